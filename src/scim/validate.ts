/**
 * SCIM writes are checked against the same field rules as the REST API (`identity/schema.ts`: lengths,
 * formats, site and country codes), after the SCIM document is mapped to Roster's fields, so a user is held
 * to one set of rules whichever door it came through.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import formatsPlugin from 'ajv-formats';
import type { GroupInput, UserInput } from '../identity/model.js';
import { groupPatchBody, userPatchBody } from '../identity/schema.js';
import { RosterError } from '../platform/errors.js';
import { fieldErrorsFromValidation } from '../platform/http/problem.js';

const ajv = new Ajv({ allErrors: true, coerceTypes: false, useDefaults: false, strict: false });
// ajv-formats is CommonJS: its default export arrives as the module object under NodeNext.
const addFormats = (formatsPlugin as unknown as { default: (a: Ajv) => void }).default ?? formatsPlugin;
addFormats(ajv);

const checkUser: ValidateFunction = ajv.compile(userPatchBody);
const checkGroup: ValidateFunction = ajv.compile(groupPatchBody);

function check(validate: ValidateFunction, input: object): void {
  if (validate(input)) return;
  const errors = fieldErrorsFromValidation(validate.errors ?? []);
  throw new RosterError('scim.invalid_value', {
    detail: `Invalid attribute values: ${errors.map((e) => e.pointer || '/').join(', ')}`,
    errors,
  });
}

/** @throws scim.invalid_value naming each offending field (never its value) */
export function checkUserInput(input: UserInput): void {
  check(checkUser, input);
}

/** Members are checked by the identity service (ids of the tenant's users); the other fields here. */
export function checkGroupInput(input: GroupInput): void {
  const { members: _members, ...fields } = input;
  check(checkGroup, fields);
}
