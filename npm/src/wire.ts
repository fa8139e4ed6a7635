/**
 * The JSON that crosses the WebAssembly boundary, as TypeScript types.
 *
 * Every shape here is generated from the Rust types by `scripts/gen-types` into `./generated/`
 * (ts-rs, behind the `ts` features of mcpauth-core and mcpauth-wasm): the boundary's own JSON
 * (`wasm/src/wire.rs`, `error.rs`, `helpers.rs`) and the core's records it carries. This module
 * re-exports them under the names the package uses, and adds only what has no Rust type: the
 * tables that map a machine's kind (the string `machine_new` matches on) to its configuration
 * and to what its `done` carries.
 *
 * Conventions: configurations and inputs are camelCase; the core's records keep their serde
 * shape (snake_case, like the OAuth wire names); tags are snake_case. Times are milliseconds
 * since the Unix epoch. An output's `None` is `null` unless the field is optional (left out);
 * an input takes `null` where its type says so.
 *
 * @module
 */

import type {
  AccessConfig,
  Discovered,
  DiscoverConfig,
  Grant,
  LoginConfig,
  LoginOutcome,
  LogoutConfig,
  LogoutOutcome,
  ResumeConfig,
} from './generated/index.js';

export type {
  // errors
  ErrorCode,
  ErrorJson,
  OAuthJson,
  // machines
  Transmit,
  Drained,
  DevicePrompt,
  EventJson,
  DoneEvent,
  MachineEvent,
  MachineInput,
  // machine configurations
  Policy,
  Redirect,
  PreRegistered,
  LoginConfig,
  ResumeConfig,
  AccessConfig,
  LogoutConfig,
  DiscoverConfig,
  // machine logins, DPoP and the JWTs the driver signs
  MachineGrant,
  CredentialSource,
  EnterpriseIdp,
  DpopKey,
  EcPublicJwk,
  KeyHandle,
  JwsAlg,
  JwsPlace,
  Signing,
  SigningKey,
  // the protected request
  StepInput,
  Action,
  Reuse,
  // records of the core, and what machines and helpers return
  TokenEndpointAuthMethod,
  ClientCredentials,
  TokenSet,
  Grant,
  BearerChallenge,
  LoginOutcome,
  LogoutOutcome,
  AuthorizationServerMetadata,
  ProtectedResourceMetadata,
  Discovered,
  StoredGrant,
  LoginStatus,
  Constants,
} from './generated/index.js';

/** The configuration of each kind of machine `machine_new` makes. */
export interface MachineConfigs {
  login: LoginConfig;
  resume: ResumeConfig;
  access: AccessConfig;
  logout: LogoutConfig;
  discover: DiscoverConfig;
}

/** The machines `machine_new` makes. */
export type MachineKind = keyof MachineConfigs;

/** What each kind's `done` carries in `ok`. */
export interface MachineOutputs {
  login: LoginOutcome;
  resume: LoginOutcome;
  access: Grant;
  logout: LogoutOutcome;
  discover: Discovered;
}
