/** A chunk returned by retrieval, with what a prompt or an extractive answer needs to cite it. */
export interface RetrievedPassage {
  chunkId: string;
  documentId: string;
  documentTitle: string;
  /** Headings above the chunk, outermost first (e.g. ['Billing', 'Refunds']); empty when none. */
  headingPath: string[];
  content: string;
  /** Higher is better; only comparable within one result list (RRF, ts_rank or cosine similarity). */
  score: number;
}

/** "Title › Heading › Subheading", without repeating a first heading equal to the title. */
export function formatSourceLabel(passage: Pick<RetrievedPassage, 'documentTitle' | 'headingPath'>): string {
  const headings = passage.headingPath.filter((heading) => heading.trim().length > 0);
  if (headings.length > 0 && headings[0].trim() === passage.documentTitle.trim()) headings.shift();
  return [passage.documentTitle, ...headings].join(' › ');
}
