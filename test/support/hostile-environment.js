/**
 * Jest's node environment, plus the real `process` as `__hostileRealProcess`:
 * the sandbox's `process` is a copy whose listeners never hear the real
 * process's `uncaughtException` / `unhandledRejection`, so test/hostile
 * listens on the real one (see watchProcess in hostile.ts).
 */
const { TestEnvironment } = require("jest-environment-node");

class HostileEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.global.__hostileRealProcess = process;
  }
}

module.exports = HostileEnvironment;
