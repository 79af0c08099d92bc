import {
  generateKeyPair as generateKeyPairCb,
  generateKeyPairSync,
  randomBytes,
  randomInt,
} from 'node:crypto';
import { promisify } from 'node:util';
import sshpk from 'sshpk';
import { registerSecret } from '../logging/redactor.js';

const generateKeyPair = promisify(generateKeyPairCb);

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A uniformly random password from `alphabet` (rejection-free: randomInt is unbiased). */
export function randomPassword(length = 32, alphabet = ALPHANUMERIC): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  registerSecret(out);
  return out;
}

/** An API key in the platform's format: a prefix and 32 random bytes, base64url. */
export function randomApiKey(prefix = 'sk_live_'): string {
  const key = prefix + randomBytes(32).toString('base64url');
  registerSecret(key);
  return key;
}

export interface SshKeyPair {
  /** OpenSSH private key format (-----BEGIN OPENSSH PRIVATE KEY-----). */
  privateKey: string;
  /** authorized_keys line: `ssh-ed25519 AAAA… comment`. */
  publicKey: string;
  fingerprint: string;
}

export function generateSshKeyPair(comment: string): SshKeyPair {
  const { privateKey } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const key = sshpk.parsePrivateKey(privateKey, 'pkcs8');
  key.comment = comment;
  const pub = key.toPublic();
  pub.comment = comment;
  const privateKeyText = key.toString('openssh');
  registerSecret(privateKeyText, privateKey);
  return {
    privateKey: privateKeyText,
    publicKey: pub.toString('ssh').trim(),
    fingerprint: pub.fingerprint('sha256').toString(),
  };
}

export interface DkimKey {
  selector: string;
  /** PKCS#8 PEM, what signers load. */
  privateKey: string;
  /** Base64 DER (SPKI) of the public key: the `p=` of the TXT record. */
  publicKey: string;
  /** The TXT record value published at `<selector>._domainkey.<domain>`. */
  record: string;
}

export async function generateDkimKey(selector: string, bits = 2048): Promise<DkimKey> {
  const { privateKey, publicKey } = await generateKeyPair('rsa', {
    modulusLength: bits,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'der' },
  });
  registerSecret(privateKey);
  const p = Buffer.from(publicKey).toString('base64');
  return { selector, privateKey, publicKey: p, record: `v=DKIM1; k=rsa; p=${p}` };
}
