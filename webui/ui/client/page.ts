// What every page is: a title, show() that fills the root, and reactions to job events.
export interface PageContext {
  params: string[];
  query: URLSearchParams;
  navigate(url: string, replace?: boolean): void;
  root: HTMLElement;
}

export interface JobEventMessage {
  type: string;
  id?: number;
  ids?: number[];
  state?: string;
  result?: string;
}

export interface Page {
  title: string;
  show(): Promise<void>;
  /**
   * A job event, or `{ type: 'reconnected' }` after the event stream was down (events sent
   * meanwhile are lost): a page showing anything that events keep current re-reads it then.
   */
  event?(event: JobEventMessage): void;
  leave?(): void;
}

/** Calls `fn` at most once per `ms`, the last call winning. */
export function debounce(fn: () => void, ms = 300): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}
