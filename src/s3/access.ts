// Who may do what: bucket and object ACLs (canned and explicit grants, as S3's
// legacy ACL model) evaluated for a caller. The owner always has full control;
// others need a grant to their account, to AuthenticatedUsers (any signed
// caller) or to AllUsers (anyone, anonymous included).

import type { Acl, AclPermission, Grantee } from '../meta/records.js';
import { S3Error } from './errors.js';
import type { HeaderMap } from './http.js';
import { escapeXml, parseXml } from './xml.js';

/** The caller as ACLs see it: an account, or anonymous. */
export type Principal = { readonly kind: 'user'; readonly id: string } | { readonly kind: 'anonymous' };

const allUsersUri = 'http://acs.amazonaws.com/groups/global/AllUsers';
const authenticatedUsersUri = 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers';

function granteeMatches(grantee: Grantee, principal: Principal): boolean {
  if (grantee.kind === 'group') return grantee.group === 'AllUsers' || principal.kind === 'user';
  return principal.kind === 'user' && principal.id === grantee.id;
}

/** Whether `principal` may act with `permission` on a resource owned by `owner` under `acl`. */
export function isAllowed(principal: Principal, owner: string, acl: Acl | undefined, permission: AclPermission): boolean {
  if (principal.kind === 'user' && principal.id === owner) return true;
  return (acl?.grants ?? []).some(
    (grant) => granteeMatches(grant.grantee, principal) && (grant.permission === permission || grant.permission === 'FULL_CONTROL'),
  );
}

export const cannedAcls = ['private', 'public-read', 'public-read-write', 'authenticated-read', 'bucket-owner-read', 'bucket-owner-full-control'] as const;

export function cannedAcl(name: string, bucketOwner: string): Acl {
  const everyone: Grantee = { kind: 'group', group: 'AllUsers' };
  switch (name) {
    case 'private':
      return { grants: [] };
    case 'public-read':
      return { grants: [{ grantee: everyone, permission: 'READ' }] };
    case 'public-read-write':
      return { grants: [{ grantee: everyone, permission: 'READ' }, { grantee: everyone, permission: 'WRITE' }] };
    case 'authenticated-read':
      return { grants: [{ grantee: { kind: 'group', group: 'AuthenticatedUsers' }, permission: 'READ' }] };
    case 'bucket-owner-read':
      return { grants: [{ grantee: { kind: 'user', id: bucketOwner }, permission: 'READ' }] };
    case 'bucket-owner-full-control':
      return { grants: [{ grantee: { kind: 'user', id: bucketOwner }, permission: 'FULL_CONTROL' }] };
    default:
      throw new S3Error('InvalidArgument', `Unknown canned ACL ${name}`, { ArgumentName: 'x-amz-acl', ArgumentValue: name });
  }
}

const grantHeaders: Record<string, AclPermission> = {
  'x-amz-grant-read': 'READ',
  'x-amz-grant-write': 'WRITE',
  'x-amz-grant-read-acp': 'READ_ACP',
  'x-amz-grant-write-acp': 'WRITE_ACP',
  'x-amz-grant-full-control': 'FULL_CONTROL',
};

function parseGranteeSpec(spec: string): Grantee {
  const match = /^\s*(id|uri|emailAddress)\s*=\s*"?([^"]*)"?\s*$/.exec(spec);
  if (match === null) throw new S3Error('InvalidArgument', `Invalid grantee ${spec}`);
  const [, type, value] = match as unknown as [string, string, string];
  if (type === 'id') return { kind: 'user', id: value };
  if (type === 'uri' && value === allUsersUri) return { kind: 'group', group: 'AllUsers' };
  if (type === 'uri' && value === authenticatedUsersUri) return { kind: 'group', group: 'AuthenticatedUsers' };
  throw new S3Error('NotImplemented', `Grantee ${type}=${value} is not supported`);
}

/** The ACL a request sets through x-amz-acl or x-amz-grant-* headers, if any. */
export function aclFromHeaders(headers: HeaderMap, bucketOwner: string): Acl | undefined {
  const canned = headers['x-amz-acl'];
  const grants = Object.entries(grantHeaders).flatMap(([name, permission]) =>
    (headers[name] ?? '')
      .split(',')
      .filter((spec) => spec.trim() !== '')
      .map((spec) => ({ grantee: parseGranteeSpec(spec), permission })),
  );
  if (canned !== undefined && grants.length > 0) throw new S3Error('InvalidRequest', 'Specifying both Canned ACLs and Header Grants is not allowed');
  if (canned !== undefined) return cannedAcl(canned.trim(), bucketOwner);
  return grants.length > 0 ? { grants } : undefined;
}

/** An AccessControlPolicy document (PutBucketAcl / PutObjectAcl body). */
export function aclFromXml(body: Uint8Array): Acl {
  const policy = parseXml(body).AccessControlPolicy as { AccessControlList?: { Grant?: unknown } } | undefined;
  if (typeof policy !== 'object') throw new S3Error('MalformedACLError');
  const raw = policy.AccessControlList?.Grant;
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const grants = list.map((entry: unknown) => {
    const grant = entry as { Grantee?: { ID?: unknown; URI?: unknown }; Permission?: unknown };
    const permission = grant.Permission;
    if (typeof permission !== 'string' || !['FULL_CONTROL', 'READ', 'WRITE', 'READ_ACP', 'WRITE_ACP'].includes(permission)) throw new S3Error('MalformedACLError');
    const id = grant.Grantee?.ID;
    const uri = grant.Grantee?.URI;
    const grantee = typeof id === 'string' ? parseGranteeSpec(`id=${id}`) : typeof uri === 'string' ? parseGranteeSpec(`uri=${uri}`) : undefined;
    if (grantee === undefined) throw new S3Error('MalformedACLError');
    return { grantee, permission: permission as AclPermission };
  });
  return { grants };
}

/** The AccessControlPolicy document of GetBucketAcl / GetObjectAcl (with xsi:type attributes). */
export function renderAcl(owner: { id: string; displayName: string }, acl: Acl | undefined, displayNameOf: (id: string) => string): Uint8Array {
  const grantee = (target: Grantee): string =>
    target.kind === 'user'
      ? `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>${escapeXml(target.id)}</ID><DisplayName>${escapeXml(displayNameOf(target.id))}</DisplayName></Grantee>`
      : `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>${target.group === 'AllUsers' ? allUsersUri : authenticatedUsersUri}</URI></Grantee>`;
  const grants = [{ grantee: { kind: 'user', id: owner.id } as Grantee, permission: 'FULL_CONTROL' as AclPermission }, ...(acl?.grants ?? [])];
  const body =
    `<?xml version="1.0" encoding="UTF-8"?>\n<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
    `<Owner><ID>${escapeXml(owner.id)}</ID><DisplayName>${escapeXml(owner.displayName)}</DisplayName></Owner><AccessControlList>` +
    grants.map((grant) => `<Grant>${grantee(grant.grantee)}<Permission>${grant.permission}</Permission></Grant>`).join('') +
    `</AccessControlList></AccessControlPolicy>`;
  return Buffer.from(body, 'utf8');
}
