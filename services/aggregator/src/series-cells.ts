// The series step (SANER section 5, over time within one series), pure, and the cache of reports it
// runs on. A series is one subject as one reporter sends it; its cell in a day/week/month bucket on
// one Kafka partition holds, per population, the sum of the present values and the value of the
// latest period that has one, from the latest version of each of its reports there (`error`
// reports count for nothing). In TypeScript because ClickHouse 18.16 spent ~0.3 s a batch
// rereading and re-sorting the series' reports, while the member that owns a reports partition is
// the only writer of that partition's series cells and can keep the reports they come from.

/** One report's part in its series' buckets (the latest version seen of its business key). */
export interface SeriesReport {
  businessKey: string;
  version: bigint;
  error: boolean;
  /** period.start as UTC, 'YYYY-MM-DD HH:MM:SS' (compared as text: the latest period wins). */
  at: string;
  receivedAt: string;
  subjectIsRegion: number;
  ownTypes: string[];
  ownRegions: string[];
  groupKeys: string[];
  popKeys: string[];
  values: number[];
  present: number[];
}

/** Which cell: a series in one bucket on one partition. */
export interface SeriesBucket {
  measure: string;
  subject: string;
  reporter: string;
  partition: number;
  grain: string;
  periodStart: string;
  periodEnd: string;
}

/** A row of sitrep.series_cells. */
export interface SeriesCellRow {
  measure: string;
  grain: string;
  period_start: string;
  subject: string;
  reporter: string;
  kafka_partition: number;
  period_end: string;
  subject_is_region: number;
  own_types: string[];
  own_regions: string[];
  group_keys: string[];
  pop_keys: string[];
  sums: number[];
  presents: number[];
  latest_values: number[];
  latest_ats: string[];
  updated_at: string;
  version: string;
}

const NEVER = '1970-01-01 00:00:00';
const SEP = '\u001f';

export const seriesBucketKey = (b: Omit<SeriesBucket, 'periodEnd'>) => [b.measure, b.subject, b.reporter, b.partition, b.grain, b.periodStart].join(SEP);

/**
 * The cell of one series bucket from the latest versions of its reports, stamped with `version`.
 * Reports with the same population layout are combined entry by entry; a series whose reports
 * differ in layout gets one run of entries per layout, which the subject step combines by the same
 * rules (subject-cells.ts). Ties for the latest period take the larger value (order-independent).
 */
export function seriesCell(bucket: SeriesBucket, reports: Iterable<SeriesReport>, version: string): SeriesCellRow {
  const layouts = new Map<string, { groupKeys: string[]; popKeys: string[]; sums: number[]; presents: number[]; latest: number[]; ats: string[] }>();
  let first: SeriesReport | undefined;
  let updatedAt = NEVER;
  for (const r of reports) {
    first ??= r;
    if (r.receivedAt > updatedAt) updatedAt = r.receivedAt;
    if (r.error) continue;
    const layoutKey = `${r.groupKeys.join(SEP)}${SEP}${SEP}${r.popKeys.join(SEP)}`;
    let l = layouts.get(layoutKey);
    if (!l) {
      const n = r.popKeys.length;
      layouts.set(
        layoutKey,
        (l = { groupKeys: r.groupKeys, popKeys: r.popKeys, sums: new Array<number>(n).fill(0), presents: new Array<number>(n).fill(0), latest: new Array<number>(n).fill(0), ats: new Array<string>(n).fill(NEVER) }),
      );
    }
    for (let i = 0; i < r.popKeys.length; i++) {
      if (r.present[i] !== 1) continue;
      const v = r.values[i]!;
      l.sums[i]! += v;
      l.presents[i] = 1;
      if (r.at > l.ats[i]! || (r.at === l.ats[i] && v > l.latest[i]!)) {
        l.ats[i] = r.at;
        l.latest[i] = v;
      }
    }
  }
  const all = [...layouts.values()];
  return {
    measure: bucket.measure,
    grain: bucket.grain,
    period_start: bucket.periodStart,
    subject: bucket.subject,
    reporter: bucket.reporter,
    kafka_partition: bucket.partition,
    period_end: bucket.periodEnd,
    subject_is_region: first?.subjectIsRegion ?? 0,
    own_types: first?.ownTypes ?? [],
    own_regions: first?.ownRegions ?? [],
    group_keys: all.flatMap((l) => l.groupKeys),
    pop_keys: all.flatMap((l) => l.popKeys),
    sums: all.flatMap((l) => l.sums),
    presents: all.flatMap((l) => l.presents),
    latest_values: all.flatMap((l) => l.latest),
    latest_ats: all.flatMap((l) => l.ats),
    updated_at: updatedAt,
    version,
  };
}

/** Keeps the later of two versions of one report. */
export function putReport(reports: Map<string, SeriesReport>, r: SeriesReport): void {
  const old = reports.get(r.businessKey);
  if (!old || r.version >= old.version) reports.set(r.businessKey, r);
}
