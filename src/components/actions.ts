/**
 * Everything the sidebar's components can ask for, declared once. The plugin
 * builds one object of them (commands, requests through the model) and the
 * components call it with the cluster they show.
 */
import type { IAdaptBounds, ICluster } from '../api';
import type { IDraft } from '../model/draft';

/** What a cluster card can do. */
export interface IClusterActions {
  scale(cluster: ICluster, workers: number): void;
  adapt(cluster: ICluster, bounds: IAdaptBounds | null): Promise<unknown>;
  openDashboard(cluster: ICluster): void;
  /** Titles and URLs of the dashboard's individual plots (may reject). */
  loadPlots(cluster: ICluster): Promise<Record<string, string>>;
  openPlot(cluster: ICluster, title: string, url: string): void;
  /** The output of an ended job, in a main-area tab. */
  openJobLog(cluster: ICluster, jobId: string): void;
  insertCode(cluster: ICluster): void;
  shutdown(cluster: ICluster): void;
}

/** What the whole sidebar can do: the cards' actions and the form's. */
export interface ISidebarActions extends IClusterActions {
  start(): void;
  refresh(): void;
  changeDraft(change: Partial<IDraft>): void;
  /** Open the dashboard a pasted URL names, if it is one of this user's schedulers'. */
  openDashboardURL(text: string): void;
}
