import { LabIcon } from '@jupyterlab/ui-components';

/** Dask's mark: three rounded, slanted bars, in the theme's icon colour. */
const SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M7.2 1.6 2.6 4.3c-.4.2-.6.6-.6 1.1v10.8c0 .4.3.6.6.4l1.6-.9c.4-.2.6-.6.6-1.1V6.9c0-.4.2-.8.6-1l4.5-2.6c.4-.2.6-.7.6-1.1V1.3c0-.4-.3-.5-.6-.4Z"/>
    <path d="M12.6 4.7 8 7.4c-.4.2-.6.6-.6 1.1v10.8c0 .4.3.6.6.4l1.6-.9c.4-.2.6-.6.6-1.1V10c0-.4.2-.8.6-1l4.5-2.6c.4-.2.6-.7.6-1.1V4.4c0-.4-.3-.5-.6-.4Z"/>
    <path d="M21.4 7.2c-.1-.2-.4-.2-.6-.1l-7.4 4.3c-.4.2-.6.6-.6 1.1v10.8c0 .4.3.6.6.4l7.4-4.3c.4-.2.6-.6.6-1.1V7.5c0-.1 0-.2 0-.3Z"/>
  </g>
</svg>`;

export const clusterIcon = new LabIcon({
  name: 'pangeo-hpc-ext:cluster',
  svgstr: SVG
});
