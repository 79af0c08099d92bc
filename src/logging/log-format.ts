/** `pretty`: one human line per entry (a terminal); `json`: one JSON object per line (collectors, files). */
export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
