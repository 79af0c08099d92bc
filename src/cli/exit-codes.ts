/** Exit codes of every sealwatch command: decided in the CLI layer only. */
export const EXIT = { ok: 0, failure: 1, usage: 2, findings: 3 } as const;
