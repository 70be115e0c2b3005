// Tag sets as S3 limits them, in both forms a request carries them: the
// x-amz-tagging header (URL-encoded query string) and the Tagging XML body.
// At most 10 object tags or 50 bucket tags, keys of 1–128 and values of at
// most 256 Unicode code points (not UTF-16 units, not bytes), no key twice;
// each violation is InvalidTag. What tagSetXml renders, tagsFromXml reads back.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { TagSet } from '../meta/records.js';
import { S3Error } from './errors.js';
import type { S3ErrorCode } from './errors.js';
import { bucketTagsMax, objectTagsMax, tagSetXml, tagsFromHeader, tagsFromXml } from './tags.js';
import { escapeXml, renderXmlDocument } from './xml.js';

function throwsS3(fn: () => unknown, code: S3ErrorCode): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof S3Error, `expected an S3Error, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

/** A header value for these pairs, each part URL-encoded as the SDK does. */
function header(pairs: readonly (readonly [string, string])[]): string {
  return pairs.map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`).join('&');
}

/** A Tagging document for these pairs. */
function xml(pairs: readonly (readonly [string, string])[]): Buffer {
  const tags = pairs.map(([key, value]) => `<Tag><Key>${escapeXml(key)}</Key><Value>${escapeXml(value)}</Value></Tag>`).join('');
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>${tags}</TagSet></Tagging>`);
}

function numbered(count: number): [string, string][] {
  return Array.from({ length: count }, (_, index): [string, string] => [`key-${index}`, `value-${index}`]);
}

/** The limits are the same whichever form carries the tags. */
const forms = [
  { name: 'x-amz-tagging header', parse: (pairs: readonly (readonly [string, string])[]) => tagsFromHeader(header(pairs)) },
  { name: 'Tagging XML', parse: (pairs: readonly (readonly [string, string])[]) => tagsFromXml(xml(pairs), objectTagsMax) },
] as const;

describe('tag limits, header and XML alike', () => {
  it('are S3\'s: 10 tags on an object, 50 on a bucket', () => {
    assert.equal(objectTagsMax, 10);
    assert.equal(bucketTagsMax, 50);
  });

  for (const form of forms) {
    describe(form.name, () => {
      it('reads the pairs into a tag set', () => {
        assert.deepEqual(form.parse([['project', 'tessera'], ['team', 'storage']]), { project: 'tessera', team: 'storage' });
      });

      it('10 object tags are fine, 11 are InvalidTag', () => {
        assert.equal(Object.keys(form.parse(numbered(objectTagsMax)) ?? {}).length, objectTagsMax);
        throwsS3(() => form.parse(numbered(objectTagsMax + 1)), 'InvalidTag');
      });

      it('a key of 1 and of 128 code points is fine; empty or 129 is InvalidTag', () => {
        assert.deepEqual(form.parse([['k', 'v']]), { k: 'v' });
        assert.deepEqual(form.parse([['k'.repeat(128), 'v']]), { ['k'.repeat(128)]: 'v' });
        throwsS3(() => form.parse([['', 'v']]), 'InvalidTag');
        throwsS3(() => form.parse([['k'.repeat(129), 'v']]), 'InvalidTag');
      });

      it('lengths count code points: 128 four-byte characters make a valid key (256 UTF-16 units, 512 bytes)', () => {
        const key = '😀'.repeat(128);
        assert.equal(key.length, 256);
        assert.deepEqual(form.parse([[key, 'v']]), { [key]: 'v' });
        throwsS3(() => form.parse([['😀'.repeat(129), 'v']]), 'InvalidTag');
        const value = '中'.repeat(100) + '😀'.repeat(156);
        assert.deepEqual(form.parse([['k', value]]), { k: value });
        throwsS3(() => form.parse([['k', value + 'x']]), 'InvalidTag');
      });

      it('a value may be empty; 256 code points are fine, 257 are InvalidTag', () => {
        assert.deepEqual(form.parse([['k', '']]), { k: '' });
        assert.deepEqual(form.parse([['k', 'v'.repeat(256)]]), { k: 'v'.repeat(256) });
        throwsS3(() => form.parse([['k', 'v'.repeat(257)]]), 'InvalidTag');
      });

      it('the same key twice is InvalidTag, even with the same value', () => {
        throwsS3(() => form.parse([['k', '1'], ['k', '2']]), 'InvalidTag');
        throwsS3(() => form.parse([['k', '1'], ['other', '1'], ['k', '1']]), 'InvalidTag');
      });

      it('keys differing only in case are two tags', () => {
        assert.deepEqual(form.parse([['Key', '1'], ['key', '2']]), { Key: '1', key: '2' });
      });

      it('characters that need escaping come through as written', () => {
        const pairs: [string, string][] = [['a&b=c', 'x=y&z'], ['<tag>', '"quoted" \'single\''], ['path/to:key', 'plus+sign @ 100%']];
        assert.deepEqual(form.parse(pairs), Object.fromEntries(pairs));
      });
    });
  }
});

describe('tagsFromHeader', () => {
  it('no header: no tags; an empty header: an empty tag set', () => {
    assert.equal(tagsFromHeader(undefined), undefined);
    assert.deepEqual(tagsFromHeader(''), {});
  });

  it('decodes %XX and + as a query string does; a key without = has an empty value', () => {
    assert.deepEqual(tagsFromHeader('a%20b=c+d&e%26f=%3D&bare'), { 'a b': 'c d', 'e&f': '=', bare: '' });
  });

  it('skips empty parts between separators', () => {
    assert.deepEqual(tagsFromHeader('a=1&&b=2&'), { a: '1', b: '2' });
  });

  it('an empty key (=value) is InvalidTag', () => {
    throwsS3(() => tagsFromHeader('=value'), 'InvalidTag');
  });

  it('bad percent-encoding is InvalidArgument', () => {
    throwsS3(() => tagsFromHeader('a=%zz'), 'InvalidArgument');
  });
});

describe('tagsFromXml', () => {
  it('bucket tag sets allow 50 tags and refuse 51', () => {
    assert.equal(Object.keys(tagsFromXml(xml(numbered(bucketTagsMax)), bucketTagsMax)).length, bucketTagsMax);
    throwsS3(() => tagsFromXml(xml(numbered(bucketTagsMax + 1)), bucketTagsMax), 'InvalidTag');
  });

  it('the limit is the one passed: 11 tags are fine for a bucket, not for an object', () => {
    assert.equal(Object.keys(tagsFromXml(xml(numbered(11)), bucketTagsMax)).length, 11);
    throwsS3(() => tagsFromXml(xml(numbered(11)), objectTagsMax), 'InvalidTag');
  });

  it('an empty TagSet (either spelling) is an empty tag set', () => {
    assert.deepEqual(tagsFromXml(Buffer.from('<Tagging><TagSet></TagSet></Tagging>'), objectTagsMax), {});
    assert.deepEqual(tagsFromXml(Buffer.from('<Tagging><TagSet/></Tagging>'), objectTagsMax), {});
  });

  it('a Tag without Value, or with an empty one, has the empty value', () => {
    assert.deepEqual(tagsFromXml(Buffer.from('<Tagging><TagSet><Tag><Key>a</Key></Tag><Tag><Key>b</Key><Value/></Tag></TagSet></Tagging>'), objectTagsMax), {
      a: '',
      b: '',
    });
  });

  it('values that look like numbers or booleans stay strings', () => {
    assert.deepEqual(tagsFromXml(xml([['count', '007'], ['flag', 'true'], ['1e3', '1.50']]), objectTagsMax), { count: '007', flag: 'true', '1e3': '1.50' });
  });

  it('an empty <Key/> is InvalidTag', () => {
    throwsS3(() => tagsFromXml(Buffer.from('<Tagging><TagSet><Tag><Key></Key><Value>v</Value></Tag></TagSet></Tagging>'), objectTagsMax), 'InvalidTag');
  });

  it('not a Tagging document, not well-formed, or a Tag without Key: MalformedXML', () => {
    throwsS3(() => tagsFromXml(Buffer.from(''), objectTagsMax), 'MalformedXML');
    throwsS3(() => tagsFromXml(Buffer.from('<Tagging><TagSet>'), objectTagsMax), 'MalformedXML');
    throwsS3(() => tagsFromXml(Buffer.from('<TagSet><Tag><Key>a</Key></Tag></TagSet>'), objectTagsMax), 'MalformedXML');
    throwsS3(() => tagsFromXml(Buffer.from('<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>'), objectTagsMax), 'MalformedXML');
  });
});

describe('tagSetXml', () => {
  it('renders Tagging/TagSet/Tag with Key and Value, escaped', () => {
    const text = Buffer.from(renderXmlDocument('Tagging', tagSetXml({ 'a&b': '<v>' }))).toString('utf8');
    assert.ok(text.includes('<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>a&amp;b</Key><Value>&lt;v&gt;</Value></Tag></TagSet></Tagging>'), text);
  });

  it('no tags render an empty TagSet', () => {
    const text = Buffer.from(renderXmlDocument('Tagging', tagSetXml(undefined))).toString('utf8');
    assert.ok(text.includes('<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet></TagSet></Tagging>'), text);
  });

  it('round trip: tagsFromXml reads back what tagSetXml renders, and the header form agrees', () => {
    const text = fc.string({
      unit: fc.constantFrom('a', 'Z', '0', '+', '-', '=', '.', '_', ':', '/', '@', '&', '<', '>', '"', "'", '%', 'é', '中', '😀'),
      maxLength: 20,
    });
    const tagSet: fc.Arbitrary<TagSet> = fc.dictionary(text.filter((key) => key !== '' && key !== '__proto__'), text, { maxKeys: objectTagsMax, noNullPrototype: true });
    fc.assert(
      fc.property(tagSet, (tags) => {
        assert.deepEqual(tagsFromXml(renderXmlDocument('Tagging', tagSetXml(tags)), objectTagsMax), tags);
        assert.deepEqual(tagsFromHeader(header(Object.entries(tags))), tags);
      }),
    );
  });
});
