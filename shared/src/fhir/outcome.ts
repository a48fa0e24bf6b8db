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
