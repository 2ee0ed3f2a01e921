import { verify, passed, type ConformanceTest } from "../check.js";
import { excerpt } from "../v3-calls.js";

/**
 * `health`: Google polls `GET /v3/HealthCheck` with its Basic credentials and
 * reads only the status (200 = serving); a server that answers anything else
 * is taken offline until it is healthy again (spec §3.6, §1.5).
 */
export const healthTest: ConformanceTest = {
  name: "health",
  summary: "GET /v3/HealthCheck answers 200 (plain and trailing-slash paths), and 401 without Google's credentials",
  async run(test) {
    await test.check("get", async ({ client }) => {
      const answer = await client.get("HealthCheck");
      verify(answer.status === 200, `GET /v3/HealthCheck answered HTTP ${answer.status}, expected 200: ${excerpt(answer.text)}`);
      return passed("GET /v3/HealthCheck answered 200");
    });
    await test.check("trailing-slash", async ({ client }) => {
      const answer = await client.get("HealthCheck", { trailingSlash: true });
      verify(answer.status === 200, `GET /v3/HealthCheck/ answered HTTP ${answer.status}, expected 200 (Google's guides use this path too)`);
      return passed("GET /v3/HealthCheck/ answered 200");
    });
    await test.check("requires-credentials", async ({ client }) => {
      const none = await client.get("HealthCheck", { auth: "none" });
      verify(none.status === 401, `without an Authorization header HealthCheck answered HTTP ${none.status}, expected 401`);
      const wrong = await client.get("HealthCheck", { auth: "wrong-password" });
      verify(wrong.status === 401, `with a wrong password HealthCheck answered HTTP ${wrong.status}, expected 401`);
      return passed("401 without credentials and with a wrong password");
    });
  },
};
