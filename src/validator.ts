/**
 * A small JSON Schema validator for the options forms.
 *
 * The profiles' schemas use a handful of keywords (type, enum, minimum,
 * maximum, pattern, lengths, items, properties, required,
 * additionalProperties); checking those here keeps ajv (and its weight) out of
 * the bundle. The server validates everything again, with a full validator, and
 * its 422 field errors are shown the same way.
 */
import type {
  ErrorSchema,
  RJSFSchema,
  RJSFValidationError,
  ValidationData,
  ValidatorType
} from '@rjsf/utils';

import type { IFieldError, IOptionsSchema } from './api';

/** Hints that read better than a generic message for these keywords. */
const HINTED = new Set(['pattern', 'type']);

function typeOf(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'array';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? 'integer' : 'number';
  }
  return typeof value;
}

function matchesType(value: unknown, type: string): boolean {
  const actual = typeOf(value);
  return actual === type || (type === 'number' && actual === 'integer');
}

function join(path: string, key: string | number): string {
  return path ? `${path}.${key}` : String(key);
}

/** Field errors for `value` against `schema`; fields are dotted paths like the server's. */
export function validateOptions(
  value: unknown,
  schema: IOptionsSchema,
  path = ''
): IFieldError[] {
  const errors: IFieldError[] = [];
  const fail = (keyword: string, message: string): void => {
    const hint =
      HINTED.has(keyword) && typeof schema.errorMessage === 'string'
        ? schema.errorMessage
        : message;
    errors.push({ field: path, message: hint });
  };

  if (value === undefined) {
    return errors;
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some(t => matchesType(value, t))) {
      fail('type', `must be of type ${types.join(' or ')}`);
      return errors;
    }
  }
  if (schema.enum !== undefined && !schema.enum.some(v => v === value)) {
    fail(
      'enum',
      `must be one of ${schema.enum.map(v => JSON.stringify(v)).join(', ')}`
    );
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) {
      fail('minimum', `must be at least ${schema.minimum}`);
    }
    if (schema.maximum !== undefined && value > schema.maximum) {
      fail('maximum', `must be at most ${schema.maximum}`);
    }
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) {
      fail('minLength', `must have at least ${schema.minLength} characters`);
    }
    if (schema.maxLength !== undefined && value.length > schema.maxLength) {
      fail('maxLength', `must have at most ${schema.maxLength} characters`);
    }
    if (schema.pattern !== undefined && !safeTest(schema.pattern, value)) {
      fail('pattern', `must match ${schema.pattern}`);
    }
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((item, index) => {
      errors.push(...validateOptions(item, schema.items!, join(path, index)));
    });
  }
  if (typeOf(value) === 'object') {
    const object = value as Record<string, unknown>;
    const properties = schema.properties ?? {};
    for (const name of schema.required ?? []) {
      if (object[name] === undefined) {
        errors.push({ field: join(path, name), message: 'is required' });
      }
    }
    for (const [name, item] of Object.entries(object)) {
      const property = properties[name];
      if (property) {
        errors.push(...validateOptions(item, property, join(path, name)));
      } else if (schema.additionalProperties === false) {
        errors.push({ field: join(path, name), message: 'unknown option' });
      }
    }
  }
  return errors;
}

function safeTest(pattern: string, value: string): boolean {
  try {
    return new RegExp(pattern, 'u').test(value);
  } catch {
    // A pattern JavaScript cannot compile is the server's to judge.
    return true;
  }
}

/** `{memory: {__errors: [...]}}` from `[{field: "memory", message}]`, as rjsf shows them. */
export function toErrorSchema(errors: IFieldError[]): ErrorSchema {
  const root: Record<string, unknown> = {};
  for (const { field, message } of errors) {
    let node = root;
    for (const part of field ? field.split('.') : []) {
      node = (node[part] ??= {}) as Record<string, unknown>;
    }
    ((node.__errors ??= []) as string[]).push(message);
  }
  return root as ErrorSchema;
}

function toValidationErrors(errors: IFieldError[]): RJSFValidationError[] {
  return errors.map(({ field, message }) => ({
    property: field ? `.${field}` : '',
    message,
    stack: field ? `${field}: ${message}` : message
  }));
}

function flatten(schema: ErrorSchema, path = ''): IFieldError[] {
  const errors: IFieldError[] = [];
  for (const [key, value] of Object.entries(
    schema as Record<string, unknown>
  )) {
    if (key === '__errors') {
      for (const message of value as string[]) {
        errors.push({ field: path, message });
      }
    } else if (value && typeof value === 'object') {
      errors.push(...flatten(value as ErrorSchema, join(path, key)));
    }
  }
  return errors;
}

/** rjsf's validator interface over `validateOptions`. */
export const optionsValidator: ValidatorType = {
  validateFormData(formData, schema): ValidationData<unknown> {
    const errors = validateOptions(formData, schema as IOptionsSchema);
    return {
      errors: toValidationErrors(errors),
      errorSchema: toErrorSchema(errors)
    };
  },
  toErrorList(errorSchema?: ErrorSchema): RJSFValidationError[] {
    return toValidationErrors(errorSchema ? flatten(errorSchema) : []);
  },
  isValid(schema: RJSFSchema, formData: unknown): boolean {
    return validateOptions(formData, schema as IOptionsSchema).length === 0;
  },
  rawValidation<Result>(schema: RJSFSchema, formData?: unknown) {
    const errors = validateOptions(formData, schema as IOptionsSchema);
    return { errors: errors as unknown as Result[] };
  }
};
