/** sealwatch's version: `--version` and the tool version of SARIF reports. */
export const SEALWATCH_VERSION = '0.1.0';
