// What each broken report in test/fixtures/invalid must be refused for: the code and FHIRPath of
// every issue. Shared by the validator's unit tests and ingest's 422 tests.
import type { Issue } from '@sitrep/shared/fhir/outcome';

/** `measure`: the issues assume the report's Measure (FEMA) is known. */
export type Expected = { measure?: true; issues: [Issue['code'], string][] };
export const P = 'MeasureReport.group[0].population';

/** Every file in test/fixtures/invalid, with the issues it must produce (all errors). */
export const INVALID: Record<string, Expected> = {
  'no-subject-identifier': { issues: [['required', 'MeasureReport.subject.identifier']] },
  'subject-identifier-without-value': { issues: [['required', 'MeasureReport.subject.identifier.value']] },
  'date-without-seconds': { issues: [['value', 'MeasureReport.date']] },
  'date-without-offset': { issues: [['value', 'MeasureReport.date']] },
  'date-only': { issues: [['invariant', 'MeasureReport.date']] },
  'period-missing': { issues: [['required', 'MeasureReport.period']] },
  'period-end-missing': { issues: [['required', 'MeasureReport.period.end']] },
  'period-start-date-only': { issues: [['invariant', 'MeasureReport.period.start']] },
  'period-start-after-end': { issues: [['invariant', 'MeasureReport.period']] },
  'group-without-code': { issues: [['required', 'MeasureReport.group[0].code']] },
  'group-without-population': { issues: [['required', P]] },
  'population-without-code': { issues: [['required', `${P}[1].code`]] },
  'count-is-string': { issues: [['structure', `${P}[1].count`]] },
  'count-negative': { issues: [['value', `${P}[1].count`]] },
  'population-code-twice': { issues: [['invariant', `${P}[3].code`]] },
  'group-code-twice': { issues: [['invariant', 'MeasureReport.group[1].code']] },
  'count-not-integer': { issues: [['value', `${P}[1].count`]] },
  'count-beyond-int32': { issues: [['value', `${P}[1].count`]] },
  'count-missing': { issues: [['required', `${P}[1].count`]] },
  'count-extension-without-data-absent-reason': { issues: [['required', `${P}[0].count`]] },
  'count-companion-not-an-object': { issues: [['structure', `${P}[0].count`], ['required', `${P}[0].count`]] },
  'unknown-element-at-root': { issues: [['structure', 'MeasureReport.reportedBy']] },
  'unknown-element-in-population': { issues: [['structure', `${P}[1].value`]] },
  'unknown-population-code': { measure: true, issues: [['code-invalid', `${P}[1].code`]] },
  'unknown-group-code': { measure: true, issues: [['code-invalid', 'MeasureReport.group[0].code']] },
  'status-invalid': { issues: [['value', 'MeasureReport.status']] },
  'type-not-summary': { issues: [['invariant', 'MeasureReport.type']] },
  'complete-without-reporter': { issues: [['invariant', 'MeasureReport.reporter']] },
  'measure-missing': { issues: [['required', 'MeasureReport.measure']] },
  'id-invalid': { issues: [['value', 'MeasureReport.id']] },
  // With the Measure known, the code with a trailing space is also not one of its codes.
  'code-with-trailing-space': { measure: true, issues: [['value', `${P}[1].code.coding[0].code`], ['code-invalid', `${P}[1].code`]] },
  'identifier-empty-array': { issues: [['structure', 'MeasureReport.identifier']] },
  'extension-without-url': { issues: [['required', `${P}[0].count.extension[0].url`], ['required', `${P}[0].count`]] },
  'extension-with-two-values': { issues: [['structure', `${P}[0].count.extension[0]`]] },
  'stratum-with-value': { issues: [['invariant', 'MeasureReport.group[0].stratifier[0].stratum[0].value']] },
  'stratum-without-population': { issues: [['required', 'MeasureReport.group[0].stratifier[0].stratum[0].population']] },
  'stratifier-without-code': { issues: [['required', 'MeasureReport.group[0].stratifier[0].code']] },
  'subject-not-a-location': { issues: [['invariant', 'MeasureReport.subject.reference']] },
  'reporter-not-an-organization': { issues: [['value', 'MeasureReport.reporter.reference']] },
  'subject-system-with-bar': { issues: [['value', 'MeasureReport.subject.identifier.system']] },
  'reporter-system-with-bar': { issues: [['value', 'MeasureReport.reporter.identifier.system']] },
  'resource-type-observation': { issues: [['invalid', 'resourceType']] },
  'several-defects': {
    measure: true,
    issues: [
      ['value', 'MeasureReport.status'],
      ['invariant', 'MeasureReport.type'],
      ['required', 'MeasureReport.subject.identifier'],
      ['required', 'MeasureReport.date'],
      ['invariant', 'MeasureReport.period.end'],
      ['structure', 'MeasureReport.reportedBy'],
      ['code-invalid', 'MeasureReport.group[0].code'],
      ['structure', `${P}[1].count`],
      ['structure', `${P}[1].value`],
      ['required', `${P}[2].code`],
    ],
  },
};
