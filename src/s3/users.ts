// S3 identities known to the server. The foundation has the root user plus any
// users from the config file; `tessera admin` keys in metadata come with the
// access issue (#3). The canonical id is stable per access key.

import { createHash } from 'node:crypto';
import type { Credentials } from './auth/sigv4.js';

export interface S3User extends Credentials {
  readonly displayName: string;
  /** 64 hex chars, like AWS canonical user ids. */
  readonly canonicalId: string;
}

export function makeUser(accessKeyId: string, secretAccessKey: string, displayName: string): S3User {
  const canonicalId = createHash('sha256').update(`tessera-user:${accessKeyId}`).digest('hex');
  return { accessKeyId, secretAccessKey, displayName, canonicalId };
}

/** Users that live elsewhere (access keys in metadata), looked up synchronously. */
export interface UserSource {
  byKey(accessKeyId: string): S3User | undefined;
  byId(canonicalId: string): S3User | undefined;
}

export class UserDirectory {
  private readonly byAccessKey = new Map<string, S3User>();
  private readonly byCanonicalId = new Map<string, S3User>();

  constructor(
    users: readonly S3User[],
    private readonly source?: UserSource,
  ) {
    for (const user of users) {
      this.byAccessKey.set(user.accessKeyId, user);
      this.byCanonicalId.set(user.canonicalId, user);
    }
  }

  byKey(accessKeyId: string): S3User | undefined {
    return this.byAccessKey.get(accessKeyId) ?? this.source?.byKey(accessKeyId);
  }

  byId(canonicalId: string): S3User | undefined {
    return this.byCanonicalId.get(canonicalId) ?? this.source?.byId(canonicalId);
  }
}
