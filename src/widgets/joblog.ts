import type { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { refreshIcon, ToolbarButton } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import type { ClusterAPI } from '../api';
import { jobLogText } from '../format';
import { clusterIcon } from '../icon';

/** Which job's log a tab shows. */
export interface IJobLogArgs {
  clusterId: string;
  jobId: string;
  /** Cluster name, for the tab's title. */
  label: string;
}

/** A job's output, whole lines, scrolled to its end; read again on "Refresh". */
export class JobLogView extends Widget {
  constructor(
    private readonly args: IJobLogArgs,
    private readonly api: Pick<ClusterAPI, 'jobLog'>
  ) {
    super();
    this.addClass('pangeo-hpc-JobLogView');
    this._text.className = 'pangeo-hpc-JobLogView-text';
    this._text.dataset.testid = 'pangeo-hpc-job-log';
    this._text.tabIndex = 0;
    this._text.setAttribute('aria-label', `Log of job ${args.jobId}`);
    this.node.appendChild(this._text);
  }

  /** Fetch the log again; the text says "Loading…" meanwhile, or why it failed. */
  async refresh(): Promise<void> {
    this.node.dataset.state = 'loading';
    if (!this._text.textContent) {
      this._text.textContent = 'Loading…';
    }
    try {
      const log = await this.api.jobLog(this.args.clusterId, this.args.jobId);
      this._text.textContent = jobLogText(log);
      this.node.dataset.state = 'loaded';
      this.node.scrollTop = this.node.scrollHeight;
    } catch (error) {
      this._text.textContent = `The log of job ${this.args.jobId} is not available: ${(error as Error).message}`;
      this.node.dataset.state = 'failed';
    }
  }

  private _text = document.createElement('pre');
}

export function jobLogWidgetId(args: Omit<IJobLogArgs, 'label'>): string {
  const safe = (text: string) => text.replace(/[^A-Za-z0-9_-]+/g, '-');
  return `pangeo-hpc-job-log-${safe(args.clusterId)}-${safe(args.jobId)}`;
}

/** Open (or show again, refreshed) the tab of one job's log. */
export function openJobLog(
  shell: JupyterFrontEnd.IShell,
  api: Pick<ClusterAPI, 'jobLog'>,
  args: IJobLogArgs
): MainAreaWidget<JobLogView> {
  const id = jobLogWidgetId(args);
  for (const widget of shell.widgets('main')) {
    if (widget.id === id && widget instanceof MainAreaWidget) {
      const existing = widget as MainAreaWidget<JobLogView>;
      void existing.content.refresh();
      shell.activateById(id);
      return existing;
    }
  }
  const content = new JobLogView(args, api);
  const widget = new MainAreaWidget({ content });
  widget.id = id;
  widget.node.dataset.testid = 'pangeo-hpc-job-log-tab';
  widget.title.label = `Log of job ${args.jobId} — ${args.label}`;
  widget.title.icon = clusterIcon;
  widget.title.closable = true;
  widget.toolbar.addItem(
    'refresh',
    new ToolbarButton({
      icon: refreshIcon,
      label: 'Refresh',
      tooltip: 'Read the log again',
      onClick: () => void content.refresh()
    })
  );
  shell.add(widget, 'main');
  shell.activateById(id);
  void content.refresh();
  return widget;
}
