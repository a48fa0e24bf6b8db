// The error classes of sitrep. Retriability is a property of the class, so the one error handler
// per service can decide by type. (Bad input in the aggregator is a value, not an exception: see
// services/aggregator/src/transform.ts.)
import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4.js';

/** A problem the caller must fix; carries the FHIR OperationOutcome and the HTTP status to send. */
export class OperationOutcomeError extends Error {
  readonly retriable = false;
  constructor(
    readonly status: number,
    readonly outcome: OperationOutcome,
  ) {
    super(outcome.issue.map((i) => i.diagnostics ?? i.code).join('; '));
    this.name = 'OperationOutcomeError';
  }

  static of(status: number, issues: OperationOutcomeIssue[]): OperationOutcomeError {
    return new OperationOutcomeError(status, { resourceType: 'OperationOutcome', issue: issues });
  }

  static single(status: number, code: OperationOutcomeIssue['code'], diagnostics: string, expression?: string): OperationOutcomeError {
    const issue: OperationOutcomeIssue = { severity: 'error', code, diagnostics };
    if (expression) issue.expression = [expression];
    return OperationOutcomeError.of(status, [issue]);
  }
}

/** A dependency (Kafka, ClickHouse) is down or slow: 503 + Retry-After at ingest, backoff in the aggregator. */
export class DependencyUnavailableError extends Error {
  readonly retriable = true;
  constructor(
    readonly dependency: 'kafka' | 'clickhouse',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DependencyUnavailableError';
  }
}
