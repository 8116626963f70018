import React from 'react';

export interface IErrorMessageProps {
  message: string | null | undefined;
  className: string;
  testid: string;
}

/** A block holding an error text; nothing at all while there is none. */
export function ErrorMessage(props: IErrorMessageProps): JSX.Element | null {
  if (!props.message) {
    return null;
  }
  return (
    <div className={props.className} data-testid={props.testid}>
      {props.message}
    </div>
  );
}
