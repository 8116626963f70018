/**
 * What the sidebar reads (the types of api.ts) against what the server sends, and what the
 * sidebar sends against what the server accepts (the types generated from its OpenAPI
 * document, src/generated/rest-types.ts). The check is tsc's, in `jlpm test`: when one side
 * stops satisfying the other, the tuple below no longer type-checks.
 */
import { describe, expect, it } from 'vitest';

import type {
  ICluster,
  ICreateRequest,
  IJob,
  IJobLog,
  IProfile,
  IProfiles
} from '../api';
import type * as Server from '../generated/rest-types';

type Satisfies<S, R> = [S] extends [R] ? true : false;
type ServerProfile = Server.IProfiles['profiles'][number];

const contract: [
  Satisfies<Server.ICluster, ICluster>,
  Satisfies<Server.IJob, IJob>,
  Satisfies<Server.IJobLog, IJobLog>,
  // A profile's options schema is JSON Schema, which the document does not type.
  Satisfies<Omit<ServerProfile, 'schema'>, Omit<IProfile, 'schema'>>,
  Satisfies<Omit<Server.IProfiles, 'profiles'>, Omit<IProfiles, 'profiles'>>,
  Satisfies<ICreateRequest, Server.ICreateClusterBody>
] = [true, true, true, true, true, true];

describe('the REST contract', () => {
  it('each side of every body satisfies the other', () => {
    expect(contract.every(Boolean)).toBe(true);
  });
});
