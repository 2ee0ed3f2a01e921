// The confirmation step before a decision: a modal <dialog> (keyboard: Tab
// between "Back" and the decision, Escape goes back). Answers true for "yes".

export function confirmStep(title: string, text: string, yesLabel: string): Promise<boolean> {
  const dialog = document.getElementById("confirm-step") as HTMLDialogElement;
  document.getElementById("confirm-title")!.textContent = title;
  document.getElementById("confirm-text")!.textContent = text;
  document.getElementById("confirm-yes")!.textContent = yesLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.showModal();
  });
}
