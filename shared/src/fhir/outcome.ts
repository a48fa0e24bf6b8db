// OperationOutcome helpers: every problem is an issue with severity, code, readable text and the
// FHIRPath expression of where it is.
import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4.js';

export type Issue = OperationOutcomeIssue;

export function issue(
  code: Issue['code'],
  diagnostics: string,
  expression?: string,
  severity: Issue['severity'] = 'error',
): Issue {
  const i: Issue = { severity, code, diagnostics };
  if (expression !== undefined) i.expression = [expression];
  return i;
}

export function outcome(issues: Issue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

export const hasErrors = (issues: Issue[]) => issues.some((i) => i.severity === 'error' || i.severity === 'fatal');

/** The first `max` issues, then a warning counting the rest (`of` names their owner: "on this line"). */
export function firstIssues(issues: Issue[], max: number, of: string): Issue[] {
  if (issues.length <= max) return issues;
  return [...issues.slice(0, max), issue('too-costly', `${issues.length - max} more issues ${of} are not listed`, undefined, 'warning')];
}
