import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  canonicalName,
  encodeUpdate,
  findTsig,
  responseSignatureProblem,
  signMessage,
  splitTxt,
  type TsigKey,
} from './dns-update.js';

const key: TsigKey = { name: 'Update-Key.', algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 7) };

describe('splitTxt', () => {
  it('keeps short values whole and splits long ones into 255-byte strings that join back', () => {
    expect(splitTxt('v=DKIM1; p=abc')).toEqual(['v=DKIM1; p=abc']);
    expect(splitTxt('')).toEqual(['']);
    const long = 'v=DKIM1; k=rsa; p=' + 'A'.repeat(700);
    const parts = splitTxt(long);
    expect(parts.map((p) => p.length)).toEqual([255, 255, 208]);
    expect(parts.join('')).toBe(long);
  });

  it('never cuts a multi-byte character', () => {
    const parts = splitTxt('é'.repeat(200));
    for (const p of parts) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(255);
    expect(parts.join('')).toBe('é'.repeat(200));
    expect(parts[0]).toBe('é'.repeat(127));
  });
});

describe('canonicalName', () => {
  it('is lower-case, uncompressed wire format, trailing dot optional', () => {
    expect(canonicalName('Ab.Example.')).toEqual(
      Buffer.from([2, 0x61, 0x62, 7, ...Buffer.from('example'), 0]),
    );
    expect(canonicalName('ab.example')).toEqual(canonicalName('AB.EXAMPLE.'));
  });
});

describe('update messages and TSIG', () => {
  const message = encodeUpdate(
    0x1234,
    'mail.example',
    [{ op: 'txt-exists', name: 'new._domainkey.a.mail.example' }],
    [
      { op: 'delete-txt', name: 'old._domainkey.a.mail.example' },
      { op: 'add', name: 'new._domainkey.a.mail.example', ttl: 300, txt: ['v=DKIM1; ', 'p=x'] },
    ],
  );

  it('encodes an UPDATE with zone, prerequisite and update counts', () => {
    expect(message.readUInt16BE(0)).toBe(0x1234);
    expect((message.readUInt16BE(2) >> 11) & 0xf).toBe(5);
    expect([4, 6, 8, 10].map((o) => message.readUInt16BE(o))).toEqual([1, 1, 2, 0]);
  });

  it('refuses a character-string over 255 bytes instead of sending a broken record', () => {
    expect(() =>
      encodeUpdate(1, 'z', [], [{ op: 'add', name: 'a.z', ttl: 1, txt: ['x'.repeat(256)] }]),
    ).toThrow(/longer than 255/);
  });

  it('signs with HMAC over message and TSIG variables (RFC 8945 §4.3.3), appending one record', () => {
    const { signed, mac } = signMessage(message, key, 1_700_000_000);
    expect(signed.readUInt16BE(10)).toBe(1);
    const tsig = findTsig(signed)!;
    expect(tsig.start).toBe(message.length);
    expect(tsig.mac).toEqual(mac);
    expect(tsig.timeSigned).toBe(1_700_000_000);
    expect(tsig.originalId).toBe(0x1234);
    const variables = Buffer.concat([
      canonicalName('update-key'),
      Buffer.from([0, 255, 0, 0, 0, 0]),
      canonicalName('hmac-sha256'),
      Buffer.from([0, 0]),
      Buffer.from([0x65, 0x53, 0xf1, 0x00]), // 1_700_000_000
      Buffer.from([0x01, 0x2c, 0, 0, 0, 0]), // fudge 300, error 0, other len 0
    ]);
    expect(mac).toEqual(createHmac('sha256', key.secret).update(message).update(variables).digest());
  });

  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const u48 = (n: number) =>
    Buffer.from([0, 0, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);

  /** A response signed as RFC 8945 §5.3 has a server do it, written out here independently of signMessage. */
  function signedResponse(requestMac: Buffer, secret: Buffer, time: number): Buffer {
    const response = Buffer.concat([u16(0x1234), u16(0x8000 | (5 << 11)), Buffer.alloc(8)]);
    const variables = Buffer.concat([
      canonicalName('update-key'),
      u16(255),
      Buffer.alloc(4),
      canonicalName('hmac-sha256'),
      u48(time),
      u16(300),
      u16(0),
      u16(0),
    ]);
    const mac = createHmac('sha256', secret)
      .update(u16(requestMac.length))
      .update(requestMac)
      .update(response)
      .update(variables)
      .digest();
    const rdata = Buffer.concat([
      canonicalName('hmac-sha256'),
      u48(time),
      u16(300),
      u16(mac.length),
      mac,
      u16(0x1234),
      u16(0),
      u16(0),
    ]);
    const record = Buffer.concat([
      canonicalName('update-key'),
      u16(250),
      u16(255),
      Buffer.alloc(4),
      u16(rdata.length),
      rdata,
    ]);
    const out = Buffer.concat([response, record]);
    out.writeUInt16BE(1, 10);
    return out;
  }

  it('accepts a response signed with the key over the request MAC, refuses tampering and other keys', () => {
    const { mac } = signMessage(message, key, 1_700_000_000);
    const good = signedResponse(mac, key.secret, 1_700_000_005);
    expect(responseSignatureProblem(good, key, mac, 1_700_000_010)).toBeNull();

    const tampered = Buffer.from(good);
    tampered[3] = tampered[3]! ^ 0x05; // rcode changed after signing
    expect(responseSignatureProblem(tampered, key, mac, 1_700_000_010)).toMatch(/does not match/);

    const otherKey = signedResponse(mac, Buffer.alloc(32, 9), 1_700_000_005);
    expect(responseSignatureProblem(otherKey, key, mac, 1_700_000_010)).toMatch(/does not match/);

    expect(responseSignatureProblem(good, key, mac, 1_700_001_000)).toMatch(/time window/);
    const unsigned = Buffer.concat([good.subarray(0, 10), Buffer.from([0, 0])]);
    expect(responseSignatureProblem(unsigned, key, mac, 0)).toMatch(/not signed/);
    expect(responseSignatureProblem(good.subarray(0, 20), key, mac, 0)).toMatch(/malformed/);
  });
});
