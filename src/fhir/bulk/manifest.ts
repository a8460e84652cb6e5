/** The complete-status manifest (Bulk Data IG 2.0 export.html#response---complete-status). */
import type { ExportFile, ExportJob } from '../../store/bulk-export-store.ts';

export interface ManifestEntry {
  type: string;
  url: string;
  count?: number;
}

export interface ExportManifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: true;
  output: ManifestEntry[];
  deleted: ManifestEntry[];
  error: ManifestEntry[];
}

export function fileUrl(fhirBase: string, jobId: string, fileNo: number): string {
  return `${fhirBase}/bulkfiles/${jobId}/${fileNo}.ndjson`;
}

export function buildManifest(fhirBase: string, job: ExportJob, files: ExportFile[]): ExportManifest {
  const entry = (f: ExportFile): ManifestEntry => ({
    type: f.resourceType,
    url: fileUrl(fhirBase, job.jobId, f.fileNo),
    count: f.count,
  });
  return {
    transactionTime: job.transactionTime,
    request: job.requestUrl,
    // Files are served under the same OAuth as the FHIR API, to the requesting client only.
    requiresAccessToken: true,
    output: files.filter((f) => f.kind === 'output' && f.count > 0).map(entry),
    deleted: [],
    error: files.filter((f) => f.kind === 'error').map(entry),
  };
}
