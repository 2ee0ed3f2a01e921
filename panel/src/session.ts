// Who is signed in: kept in sessionStorage, so it lasts as long as the tab.

export interface Session {
  merchantId: string;
  token: string;
}

const key = "host-panel.session";

export function loadSession(): Session | undefined {
  try {
    const value = JSON.parse(sessionStorage.getItem(key) ?? "null");
    if (typeof value?.merchantId === "string" && typeof value?.token === "string") return value;
  } catch {
    // A damaged entry counts as signed out.
  }
  return undefined;
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(key, JSON.stringify(session));
}

export function clearSession(): void {
  sessionStorage.removeItem(key);
}
