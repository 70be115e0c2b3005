// ACL evaluation and ACL parsing: who isAllowed what (owner, a granted user,
// the AllUsers and AuthenticatedUsers groups, FULL_CONTROL standing for every
// permission, anonymous callers), the grants of every canned ACL, the
// x-amz-acl / x-amz-grant-* headers and their errors, and the
// AccessControlPolicy document: whatever renderAcl writes, aclFromXml reads
// back as the same grants.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Acl, AclPermission, Grantee } from '../meta/records.js';
import { aclFromHeaders, aclFromXml, cannedAcl, cannedAcls, isAllowed, renderAcl } from './access.js';
import type { Principal } from './access.js';
import { S3Error } from './errors.js';
import type { S3ErrorCode } from './errors.js';
import { parseXml } from './xml.js';

const ownerId = 'a'.repeat(64);
const bucketOwnerId = 'b'.repeat(64);
const otherId = 'c'.repeat(64);
const allUsersUri = 'http://acs.amazonaws.com/groups/global/AllUsers';
const authenticatedUsersUri = 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers';

const permissions: readonly AclPermission[] = ['READ', 'WRITE', 'READ_ACP', 'WRITE_ACP', 'FULL_CONTROL'];
const owner: Principal = { kind: 'user', id: ownerId };
const bucketOwner: Principal = { kind: 'user', id: bucketOwnerId };
const other: Principal = { kind: 'user', id: otherId };
const anonymous: Principal = { kind: 'anonymous' };
const allUsers: Grantee = { kind: 'group', group: 'AllUsers' };
const authenticatedUsers: Grantee = { kind: 'group', group: 'AuthenticatedUsers' };

function throwsS3(fn: () => unknown, code: S3ErrorCode, fields: Record<string, string> = {}): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof S3Error, `expected an S3Error, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const [name, value] of Object.entries(fields)) assert.equal(error.fields[name], value, `field ${name}`);
    return true;
  });
}

/** The permissions `principal` holds on a resource owned by ownerId under `acl`. */
function allowed(principal: Principal, acl: Acl | undefined, resourceOwner = ownerId): AclPermission[] {
  return permissions.filter((permission) => isAllowed(principal, resourceOwner, acl, permission));
}

describe('isAllowed', () => {
  it('the owner may do everything, with no ACL, an empty ACL or one that grants nothing to them', () => {
    assert.deepEqual(allowed(owner, undefined), permissions);
    assert.deepEqual(allowed(owner, { grants: [] }), permissions);
    assert.deepEqual(allowed(owner, { grants: [{ grantee: { kind: 'user', id: otherId }, permission: 'READ' }] }), permissions);
  });

  it('another user, with no grant, may do nothing', () => {
    assert.deepEqual(allowed(other, undefined), []);
    assert.deepEqual(allowed(other, { grants: [] }), []);
    assert.deepEqual(allowed(other, { grants: [{ grantee: { kind: 'user', id: bucketOwnerId }, permission: 'FULL_CONTROL' }] }), []);
  });

  it('a user grant gives that user exactly the granted permission', () => {
    for (const permission of permissions.filter((name) => name !== 'FULL_CONTROL')) {
      const acl: Acl = { grants: [{ grantee: { kind: 'user', id: otherId }, permission }] };
      assert.deepEqual(allowed(other, acl), [permission], permission);
      assert.deepEqual(allowed(bucketOwner, acl), [], `${permission} granted to someone else`);
      assert.deepEqual(allowed(anonymous, acl), [], `${permission} for anonymous`);
    }
  });

  it('grants add up', () => {
    const acl: Acl = {
      grants: [
        { grantee: { kind: 'user', id: otherId }, permission: 'READ' },
        { grantee: { kind: 'user', id: otherId }, permission: 'WRITE_ACP' },
      ],
    };
    assert.deepEqual(allowed(other, acl), ['READ', 'WRITE_ACP']);
  });

  it('FULL_CONTROL implies READ, WRITE, READ_ACP and WRITE_ACP, for users and for groups', () => {
    assert.deepEqual(allowed(other, { grants: [{ grantee: { kind: 'user', id: otherId }, permission: 'FULL_CONTROL' }] }), permissions);
    assert.deepEqual(allowed(anonymous, { grants: [{ grantee: allUsers, permission: 'FULL_CONTROL' }] }), permissions);
    assert.deepEqual(allowed(other, { grants: [{ grantee: authenticatedUsers, permission: 'FULL_CONTROL' }] }), permissions);
  });

  it('AllUsers covers anonymous callers and every signed user', () => {
    const acl: Acl = { grants: [{ grantee: allUsers, permission: 'READ' }] };
    assert.deepEqual(allowed(anonymous, acl), ['READ']);
    assert.deepEqual(allowed(other, acl), ['READ']);
    assert.deepEqual(allowed(bucketOwner, acl), ['READ']);
  });

  it('AuthenticatedUsers covers every signed user, never anonymous callers', () => {
    const acl: Acl = { grants: [{ grantee: authenticatedUsers, permission: 'WRITE' }] };
    assert.deepEqual(allowed(other, acl), ['WRITE']);
    assert.deepEqual(allowed(bucketOwner, acl), ['WRITE']);
    assert.deepEqual(allowed(anonymous, acl), []);
  });

  it('an anonymous caller owns nothing, even a resource whose owner id is empty', () => {
    assert.deepEqual(allowed(anonymous, undefined), []);
    assert.deepEqual(allowed(anonymous, undefined, ''), []);
    assert.deepEqual(allowed(anonymous, { grants: [{ grantee: { kind: 'user', id: '' }, permission: 'READ' }] }, ''), []);
  });

  it('agrees with a model: owner, or a matching grant of the permission or FULL_CONTROL', () => {
    const ids = [ownerId, otherId, bucketOwnerId];
    const principalArbitrary: fc.Arbitrary<Principal> = fc.oneof(
      fc.constantFrom(...ids).map((id): Principal => ({ kind: 'user', id })),
      fc.constant<Principal>({ kind: 'anonymous' }),
    );
    const granteeArbitrary: fc.Arbitrary<Grantee> = fc.oneof(
      fc.constantFrom(...ids).map((id): Grantee => ({ kind: 'user', id })),
      fc.constantFrom<Grantee>(allUsers, authenticatedUsers),
    );
    const aclArbitrary = fc.array(fc.record({ grantee: granteeArbitrary, permission: fc.constantFrom(...permissions) }, { noNullPrototype: true }), { maxLength: 6 });
    fc.assert(
      fc.property(principalArbitrary, fc.option(aclArbitrary, { nil: undefined }), fc.constantFrom(...permissions), (principal, grants, permission) => {
        const matches = (grantee: Grantee): boolean =>
          grantee.kind === 'group'
            ? grantee.group === 'AllUsers' || principal.kind === 'user'
            : principal.kind === 'user' && principal.id === grantee.id;
        const expected =
          (principal.kind === 'user' && principal.id === ownerId) ||
          (grants ?? []).some((grant) => matches(grant.grantee) && (grant.permission === permission || grant.permission === 'FULL_CONTROL'));
        assert.equal(isAllowed(principal, ownerId, grants === undefined ? undefined : { grants }, permission), expected);
      }),
    );
  });
});

describe('cannedAcl', () => {
  // The object is owned by ownerId in a bucket owned by bucketOwnerId.
  const cases: Record<(typeof cannedAcls)[number], { bucketOwner: AclPermission[]; other: AclPermission[]; anonymous: AclPermission[] }> = {
    private: { bucketOwner: [], other: [], anonymous: [] },
    'public-read': { bucketOwner: ['READ'], other: ['READ'], anonymous: ['READ'] },
    'public-read-write': { bucketOwner: ['READ', 'WRITE'], other: ['READ', 'WRITE'], anonymous: ['READ', 'WRITE'] },
    'authenticated-read': { bucketOwner: ['READ'], other: ['READ'], anonymous: [] },
    'bucket-owner-read': { bucketOwner: ['READ'], other: [], anonymous: [] },
    'bucket-owner-full-control': { bucketOwner: permissions.slice(), other: [], anonymous: [] },
  };

  it('knows exactly the six canned ACLs of S3', () => {
    assert.deepEqual([...cannedAcls].sort(), Object.keys(cases).sort());
  });

  for (const [name, expected] of Object.entries(cases)) {
    it(`${name}: the owner keeps full control; others get what S3 documents`, () => {
      const acl = cannedAcl(name, bucketOwnerId);
      assert.deepEqual(allowed(owner, acl), permissions);
      assert.deepEqual(allowed(bucketOwner, acl), expected.bucketOwner, 'bucket owner');
      assert.deepEqual(allowed(other, acl), expected.other, 'another user');
      assert.deepEqual(allowed(anonymous, acl), expected.anonymous, 'anonymous');
    });
  }

  it('the grants themselves', () => {
    assert.deepEqual(cannedAcl('private', bucketOwnerId), { grants: [] });
    assert.deepEqual(cannedAcl('public-read', bucketOwnerId), { grants: [{ grantee: allUsers, permission: 'READ' }] });
    assert.deepEqual(cannedAcl('public-read-write', bucketOwnerId), {
      grants: [
        { grantee: allUsers, permission: 'READ' },
        { grantee: allUsers, permission: 'WRITE' },
      ],
    });
    assert.deepEqual(cannedAcl('authenticated-read', bucketOwnerId), { grants: [{ grantee: authenticatedUsers, permission: 'READ' }] });
    assert.deepEqual(cannedAcl('bucket-owner-read', bucketOwnerId), { grants: [{ grantee: { kind: 'user', id: bucketOwnerId }, permission: 'READ' }] });
    assert.deepEqual(cannedAcl('bucket-owner-full-control', bucketOwnerId), {
      grants: [{ grantee: { kind: 'user', id: bucketOwnerId }, permission: 'FULL_CONTROL' }],
    });
  });

  it('an unknown name is InvalidArgument naming x-amz-acl and the value', () => {
    throwsS3(() => cannedAcl('public', bucketOwnerId), 'InvalidArgument', { ArgumentName: 'x-amz-acl', ArgumentValue: 'public' });
    throwsS3(() => cannedAcl('Private', bucketOwnerId), 'InvalidArgument');
    throwsS3(() => cannedAcl('', bucketOwnerId), 'InvalidArgument');
  });
});

describe('aclFromHeaders', () => {
  it('no ACL headers: no ACL (the record keeps none)', () => {
    assert.equal(aclFromHeaders({}, bucketOwnerId), undefined);
    assert.equal(aclFromHeaders({ 'content-type': 'text/plain', 'x-amz-grant-read': undefined }, bucketOwnerId), undefined);
  });

  it('x-amz-acl: the canned ACL, bucket-owner-* naming the bucket owner', () => {
    for (const name of cannedAcls) assert.deepEqual(aclFromHeaders({ 'x-amz-acl': name }, bucketOwnerId), cannedAcl(name, bucketOwnerId), name);
    assert.deepEqual(aclFromHeaders({ 'x-amz-acl': ' public-read ' }, bucketOwnerId), cannedAcl('public-read', bucketOwnerId));
  });

  it('x-amz-acl with an unknown name is InvalidArgument', () => {
    throwsS3(() => aclFromHeaders({ 'x-amz-acl': 'everyone' }, bucketOwnerId), 'InvalidArgument', { ArgumentName: 'x-amz-acl', ArgumentValue: 'everyone' });
  });

  it('each x-amz-grant-* header grants its permission', () => {
    const headers = {
      'x-amz-grant-read': `id=${otherId}`,
      'x-amz-grant-write': `id=${otherId}`,
      'x-amz-grant-read-acp': `id=${otherId}`,
      'x-amz-grant-write-acp': `id=${otherId}`,
      'x-amz-grant-full-control': `id=${otherId}`,
    };
    const acl = aclFromHeaders(headers, bucketOwnerId);
    assert.deepEqual(
      acl?.grants.map((grant) => grant.permission),
      ['READ', 'WRITE', 'READ_ACP', 'WRITE_ACP', 'FULL_CONTROL'],
    );
    for (const grant of acl?.grants ?? []) assert.deepEqual(grant.grantee, { kind: 'user', id: otherId });
  });

  it('a comma-separated list of id= and uri= grantees, quoted or not, spaces allowed', () => {
    const acl = aclFromHeaders(
      {
        'x-amz-grant-read': `id="${otherId}", uri="${allUsersUri}"`,
        'x-amz-grant-write': `uri=${authenticatedUsersUri},id=${bucketOwnerId}`,
      },
      bucketOwnerId,
    );
    assert.deepEqual(acl, {
      grants: [
        { grantee: { kind: 'user', id: otherId }, permission: 'READ' },
        { grantee: allUsers, permission: 'READ' },
        { grantee: authenticatedUsers, permission: 'WRITE' },
        { grantee: { kind: 'user', id: bucketOwnerId }, permission: 'WRITE' },
      ],
    });
  });

  it('grants from headers are evaluated as written', () => {
    const acl = aclFromHeaders({ 'x-amz-grant-read': `uri="${allUsersUri}"`, 'x-amz-grant-write': `id="${otherId}"` }, bucketOwnerId);
    assert.deepEqual(allowed(anonymous, acl), ['READ']);
    assert.deepEqual(allowed(other, acl), ['READ', 'WRITE']);
  });

  it('a canned ACL and grant headers at once is InvalidRequest', () => {
    throwsS3(() => aclFromHeaders({ 'x-amz-acl': 'private', 'x-amz-grant-read': `id=${otherId}` }, bucketOwnerId), 'InvalidRequest');
    throwsS3(() => aclFromHeaders({ 'x-amz-acl': 'public-read', 'x-amz-grant-full-control': `uri="${allUsersUri}"` }, bucketOwnerId), 'InvalidRequest');
  });

  it('an empty grant header grants nothing (the canned ACL alone applies)', () => {
    assert.equal(aclFromHeaders({ 'x-amz-grant-read': '' }, bucketOwnerId), undefined);
    assert.deepEqual(aclFromHeaders({ 'x-amz-acl': 'public-read', 'x-amz-grant-read': ' , ' }, bucketOwnerId), cannedAcl('public-read', bucketOwnerId));
  });

  it('a grantee that is not type=value is InvalidArgument', () => {
    throwsS3(() => aclFromHeaders({ 'x-amz-grant-read': otherId }, bucketOwnerId), 'InvalidArgument');
    throwsS3(() => aclFromHeaders({ 'x-amz-grant-read': `name=${otherId}` }, bucketOwnerId), 'InvalidArgument');
  });

  it('grantees we cannot represent (e-mail, other groups) are NotImplemented, never silently dropped', () => {
    throwsS3(() => aclFromHeaders({ 'x-amz-grant-read': 'emailAddress="someone@example.com"' }, bucketOwnerId), 'NotImplemented');
    throwsS3(() => aclFromHeaders({ 'x-amz-grant-write': 'uri="http://acs.amazonaws.com/groups/s3/LogDelivery"' }, bucketOwnerId), 'NotImplemented');
  });
});

describe('AccessControlPolicy documents', () => {
  const names: Record<string, string> = { [ownerId]: 'owner & co', [otherId]: '<other>', [bucketOwnerId]: "bucket 'owner'" };
  const displayNameOf = (id: string): string => names[id] ?? id;
  const render = (acl: Acl | undefined): Uint8Array => renderAcl({ id: ownerId, displayName: displayNameOf(ownerId) }, acl, displayNameOf);

  it('renders Owner, the owner FULL_CONTROL grant first, CanonicalUser and Group grantees', () => {
    const text = Buffer.from(render(cannedAcl('public-read', bucketOwnerId))).toString('utf8');
    assert.match(text, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<AccessControlPolicy xmlns="http:\/\/s3.amazonaws.com\/doc\/2006-03-01\/">/);
    assert.ok(text.includes(`<Owner><ID>${ownerId}</ID><DisplayName>owner &amp; co</DisplayName></Owner>`), text);
    assert.ok(text.includes(`xsi:type="CanonicalUser"><ID>${ownerId}</ID><DisplayName>owner &amp; co</DisplayName></Grantee><Permission>FULL_CONTROL</Permission>`), text);
    assert.ok(text.includes(`xsi:type="Group"><URI>${allUsersUri}</URI></Grantee><Permission>READ</Permission>`), text);
    const parsed = parseXml(render({ grants: [{ grantee: { kind: 'user', id: otherId }, permission: 'WRITE' }] })) as {
      AccessControlPolicy: { Owner: { ID: string; DisplayName: string }; AccessControlList: { Grant: { Grantee: { ID: string; DisplayName: string }; Permission: string }[] } };
    };
    assert.deepEqual(parsed.AccessControlPolicy.Owner, { ID: ownerId, DisplayName: 'owner & co' });
    assert.deepEqual(parsed.AccessControlPolicy.AccessControlList.Grant[1], { Grantee: { ID: otherId, DisplayName: '<other>' }, Permission: 'WRITE' });
  });

  it('with no ACL the document still grants the owner FULL_CONTROL', () => {
    assert.deepEqual(aclFromXml(render(undefined)), { grants: [{ grantee: { kind: 'user', id: ownerId }, permission: 'FULL_CONTROL' }] });
  });

  it('round trip: aclFromXml(renderAcl(acl)) is the owner FULL_CONTROL grant followed by acl', () => {
    const granteeArbitrary: fc.Arbitrary<Grantee> = fc.oneof(
      fc.stringMatching(/^[0-9a-f]{64}$/).map((id): Grantee => ({ kind: 'user', id })),
      fc.constantFrom<Grantee>(allUsers, authenticatedUsers),
    );
    const aclArbitrary = fc.array(fc.record({ grantee: granteeArbitrary, permission: fc.constantFrom(...permissions) }, { noNullPrototype: true }), { maxLength: 8 });
    const displayNameArbitrary = fc.string({ unit: fc.constantFrom('a', 'Z', '0', ' ', '&', '<', '>', '"', "'", 'é', '中', '😀'), maxLength: 20 });
    fc.assert(
      fc.property(aclArbitrary, displayNameArbitrary, (grants, displayName) => {
        const body = renderAcl({ id: ownerId, displayName }, { grants }, () => displayName);
        assert.deepEqual(aclFromXml(body), { grants: [{ grantee: { kind: 'user', id: ownerId }, permission: 'FULL_CONTROL' }, ...grants] });
      }),
    );
  });

  it('every canned ACL survives the round trip with the same effective permissions', () => {
    for (const name of cannedAcls) {
      const acl = cannedAcl(name, bucketOwnerId);
      const parsed = aclFromXml(render(acl));
      const principals: readonly Principal[] = [owner, bucketOwner, other, anonymous];
      for (const principal of principals) {
        assert.deepEqual(allowed(principal, parsed), allowed(principal, acl), `${name} ${JSON.stringify(principal)}`);
      }
    }
  });

  it('reads a document as clients write it: one Grant, no namespace, no xsi:type', () => {
    const body = Buffer.from(
      `<AccessControlPolicy><Owner><ID>${ownerId}</ID></Owner><AccessControlList>` +
        `<Grant><Grantee><ID>${otherId}</ID></Grantee><Permission>READ_ACP</Permission></Grant>` +
        `</AccessControlList></AccessControlPolicy>`,
    );
    assert.deepEqual(aclFromXml(body), { grants: [{ grantee: { kind: 'user', id: otherId }, permission: 'READ_ACP' }] });
  });

  it('an empty AccessControlList is no grants', () => {
    assert.deepEqual(aclFromXml(Buffer.from(`<AccessControlPolicy><Owner><ID>${ownerId}</ID></Owner><AccessControlList></AccessControlList></AccessControlPolicy>`)), { grants: [] });
    assert.deepEqual(aclFromXml(Buffer.from(`<AccessControlPolicy><Owner><ID>${ownerId}</ID></Owner></AccessControlPolicy>`)), { grants: [] });
  });

  it('rejects what is not an AccessControlPolicy: MalformedXML, MalformedACLError', () => {
    throwsS3(() => aclFromXml(Buffer.from('<AccessControlPolicy><Owner>')), 'MalformedXML');
    throwsS3(() => aclFromXml(Buffer.from('')), 'MalformedXML');
    throwsS3(() => aclFromXml(Buffer.from('<Tagging><TagSet/></Tagging>')), 'MalformedACLError');
    const grant = (inner: string): Buffer => Buffer.from(`<AccessControlPolicy><AccessControlList><Grant>${inner}</Grant></AccessControlList></AccessControlPolicy>`);
    throwsS3(() => aclFromXml(grant(`<Grantee><ID>${otherId}</ID></Grantee><Permission>DELETE</Permission>`)), 'MalformedACLError');
    throwsS3(() => aclFromXml(grant(`<Grantee><ID>${otherId}</ID></Grantee>`)), 'MalformedACLError');
    throwsS3(() => aclFromXml(grant('<Grantee></Grantee><Permission>READ</Permission>')), 'MalformedACLError');
    throwsS3(() => aclFromXml(grant('<Permission>READ</Permission>')), 'MalformedACLError');
  });

  it('group URIs other than AllUsers and AuthenticatedUsers are NotImplemented', () => {
    const body = Buffer.from(
      '<AccessControlPolicy><AccessControlList><Grant><Grantee><URI>http://acs.amazonaws.com/groups/s3/LogDelivery</URI></Grantee>' +
        '<Permission>WRITE</Permission></Grant></AccessControlList></AccessControlPolicy>',
    );
    throwsS3(() => aclFromXml(body), 'NotImplemented');
  });
});
