/**
 * rjsf's own widgets with an accessible name: JupyterLab's field template
 * shows each field's title in a div, not a <label>, so a screen reader would
 * read the inputs without it. Array items ("job_extra_directives-0") are
 * named after their list and position ("Extra directives, item 1").
 */
import { getDefaultRegistry } from '@rjsf/core';
import type { RegistryWidgetsType, WidgetProps } from '@rjsf/utils';
import React from 'react';

import { accessibleLabel, type ILabelContext } from '../forms';

const defaults = getDefaultRegistry().widgets;

function labelled(
  Widget: React.ComponentType<WidgetProps>
): React.ComponentType<WidgetProps> {
  const Labelled = (props: WidgetProps) => {
    const name = accessibleLabel(
      props.label || props.name,
      props.formContext as ILabelContext | undefined
    );
    // A div around the widget carries no name; the widget's own element does.
    return (
      <Widget
        {...props}
        {...({ 'aria-label': name } as Partial<WidgetProps>)}
      />
    );
  };
  Labelled.displayName = `Labelled(${Widget.displayName ?? Widget.name})`;
  return Labelled;
}

/** A select takes no extra props: an implicit <label> with hidden text names it. */
function LabelledSelect(props: WidgetProps): JSX.Element {
  const Select = defaults.SelectWidget;
  const name = accessibleLabel(
    props.label || props.name,
    props.formContext as ILabelContext | undefined
  );
  return (
    <label className="pangeo-hpc-LabelledSelect">
      <span className="pangeo-hpc-VisuallyHidden">{name}</span>
      <Select {...props} />
    </label>
  );
}

/** Inputs through BaseInputTemplate (which passes extra props on), and selects. */
export const labelledWidgets: RegistryWidgetsType = {
  TextWidget: labelled(defaults.TextWidget),
  UpDownWidget: labelled(defaults.UpDownWidget),
  SelectWidget: LabelledSelect
};
