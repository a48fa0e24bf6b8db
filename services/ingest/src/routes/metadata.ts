// GET /metadata: the CapabilityStatement, stating exactly what this server implements.
import { Router } from 'express';
import { requireJsonResponse } from '../http.js';
import { MAX_ENTRIES } from './batch.js';

const SANER_CS = 'http://hl7.org/fhir/uv/saner/CapabilityStatement';
const PROFILE = 'http://hl7.org/fhir/uv/saner/StructureDefinition/PublicHealthMeasureReport';

export function capabilityStatement(softwareVersion: string) {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-11-26',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    software: { name: 'sitrep', version: softwareVersion },
    implementation: { description: 'sitrep: SANER Measure Consumer (Produce Measure, PUSH-TX)' },
    instantiates: [
      `${SANER_CS}/MeasureConsumer-ProduceMeasure-Push`,
      `${SANER_CS}/MeasureConsumer-Push`,
      `${SANER_CS}/MeasureConsumer-ProduceMeasure-SupplementalData`,
      `${SANER_CS}/MeasureConsumer-SupplementalData`,
      `${SANER_CS}/MeasureConsumer-ProduceMeasure-CSV-Push`,
      `${SANER_CS}/MeasureConsumer-CSV-Push`,
    ],
    rest: [
      {
        mode: 'server',
        documentation: 'A 2xx means the resource is durably in Kafka. Reports are identified by (measure, subject.identifier, reporter, period): a create for an existing report updates it.',
        interaction: [
          {
            code: 'batch',
            documentation:
              `POST [base] with a batch Bundle (SANER Supplemental Data), at most ${MAX_ENTRIES} entries: Measures, Locations and Organizations are accepted first, then MeasureReports, each validated against its Measure as accepted (one that came in the same Bundle included); otherwise entries are independent. Entries of resource types other than those below get 404 (no patient-level data is kept). transaction Bundles are refused (400).`,
          },
        ],
        resource: [
          {
            type: 'MeasureReport',
            supportedProfile: [PROFILE],
            interaction: [{ code: 'create' }, { code: 'update' }],
            versioning: 'versioned',
            updateCreate: true,
            conditionalCreate: false,
            conditionalUpdate: false,
            operation: [
              {
                name: 'import',
                definition: 'http://sitrep.example/OperationDefinition/MeasureReport-import',
                documentation: 'POST [base]/MeasureReport/$import with application/fhir+ndjson (one report per line, optionally gzip): per-line outcomes; see docs/bulk.md',
              },
            ],
          },
          {
            type: 'Measure',
            interaction: [{ code: 'read' }, { code: 'update' }],
            versioning: 'versioned',
            updateCreate: true,
            operation: [{ name: 'report-csv', definition: 'http://hl7.org/fhir/uv/saner/OperationDefinition/Measure-report-csv' }],
          },
          ...['Location', 'Organization'].map((type) => ({
            type,
            interaction: [{ code: 'read' }, { code: 'update' }],
            versioning: 'versioned',
            updateCreate: true,
          })),
        ],
      },
    ],
  };
}

export function metadataRoutes(softwareVersion: string): Router {
  const router = Router();
  const body = capabilityStatement(softwareVersion);
  router.get('/metadata', (req, res) => {
    requireJsonResponse(req);
    res.type('application/fhir+json').send(body);
  });
  return router;
}
