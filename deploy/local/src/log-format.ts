// Turns the services' pino JSON lines into one readable line each for `npm start` (no
// pino-pretty dependency); anything that is not pino JSON passes through unchanged.
const levels: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const colors: Record<number, string> = { 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[41m' };
// Fields every pino line carries; the prefix and timestamp already say them.
const hidden = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name', 'service', 'v']);

export function formatLine(prefix: string, line: string, color: boolean): string {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || typeof (parsed as { level?: unknown }).level !== 'number') return `${prefix} ${line}`;
    record = parsed as Record<string, unknown>;
  } catch {
    return `${prefix} ${line}`;
  }
  const level = record.level as number;
  const time = typeof record.time === 'string' ? record.time.slice(11, 23) : new Date().toISOString().slice(11, 23);
  const fields = Object.entries(record)
    .filter(([k]) => !hidden.has(k) && k !== 'err')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  let text = `${time} ${levels[level] ?? level} ${prefix} ${String(record.msg ?? '')}${fields.length ? ` ${fields.join(' ')}` : ''}`;
  const err = record.err as { stack?: string; message?: string } | string | undefined;
  const detail = typeof err === 'string' ? err : err && (err.stack ?? err.message ?? JSON.stringify(err));
  if (detail) text += `\n    ${detail.replaceAll('\n', '\n    ')}`;
  const c = colors[level];
  return color && c ? `${c}${text}\x1b[0m` : text;
}
