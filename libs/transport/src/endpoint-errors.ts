import { AddressError, addressError, type Setting } from '@jobpipe/config';

/** A setting and the endpoint it gave: what a role binds (a `-bind` flag) or connects (a `-connect` flag). */
export type EndpointSetting = readonly [setting: Pick<Setting<unknown>, 'env' | 'flag'>, endpoint: string];

/**
 * The AddressError naming the setting of the endpoint that a ZeroMQ bind or connect refused
 * (zeromq's errors carry the endpoint as `address`, and an errno code): `JOBPIPE_JOBS_BIND
 * (--jobs-bind): tcp://*:5557 is in use by another process: stop that process (another instance
 * of this role?), or choose another endpoint`. Any other error comes back as it is, to be rethrown.
 */
export function endpointError(error: unknown, endpoints: readonly EndpointSetting[]): unknown {
  // Named already (a role's own port, say).
  if (error instanceof AddressError) return error;
  const address = (error as { address?: unknown } | undefined)?.address;
  const match = endpoints.find(([, endpoint]) => endpoint === address) ?? (endpoints.length === 1 ? endpoints[0] : undefined);
  if (!match) return error;
  const [setting, endpoint] = match;
  const code = (error as NodeJS.ErrnoException).code;
  let hint: string | undefined;
  if (code === 'EADDRINUSE') hint = 'stop that process (another instance of this role?), or choose another endpoint';
  // A connect refuses only an endpoint it cannot use, such as `*` (any address), which is for binding.
  if (code === 'EINVAL' && setting.flag.endsWith('-connect')) hint = 'give the host and port to connect to (tcp://host:port), not *';
  return addressError(error, setting, endpoint, hint) ?? error;
}
