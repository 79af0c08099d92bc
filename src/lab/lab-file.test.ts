import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { LAB_WARNING, labShares, writeLabFile, type LabFile } from './lab-file.js';

const lab: LabFile = {
  lab_only: true,
  warning: LAB_WARNING,
  created_at: '2026-01-01T00:00:00.000Z',
  root_token: 'lab-root-token',
  unseal_keys: ['share-one', 'share-two', 'share-three'],
  key_shares: 3,
  key_threshold: 2,
  bao_binary: '/usr/bin/bao',
  audit_log: '/tmp/audit.log',
  tenants: 1,
  nodes: [
    {
      node_id: 'node-1',
      address: 'http://127.0.0.1:8200',
      cluster_address: 'http://127.0.0.1:8201',
      pid: 1,
      data_dir: '/tmp/data',
      config_file: '/tmp/node-1.hcl',
      log_file: '/tmp/node-1.log',
    },
  ],
  apps: [],
};

describe('labShares', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-lab-file-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('no lab configured, or no lab file there: no shares', () => {
    expect(labShares(undefined)).toBeUndefined();
    expect(labShares(join(dir, 'lab.json'))).toBeUndefined();
  });

  it("a lab's file: its shares", () => {
    writeLabFile(dir, lab);
    expect(labShares(join(dir, 'lab.json'))).toEqual(lab.unseal_keys);
  });

  it('a lab file that is not JSON is an error naming the file, not "no shares"', () => {
    const file = join(dir, 'lab.json');
    writeFileSync(file, '{"lab_only": true, "unseal_keys": [');
    expect(() => labShares(file)).toThrow(ConfigError);
    expect(() => labShares(file)).toThrow(`lab file ${file} is not valid JSON`);
  });

  it('a lab file missing its shares is an error naming the file and the field', () => {
    const file = join(dir, 'lab.json');
    writeFileSync(file, JSON.stringify({ ...lab, unseal_keys: undefined }));
    expect(() => labShares(file)).toThrow(`lab file ${file}: unseal_keys:`);
  });

  it('a lab file that cannot be read is an error naming the file and why', () => {
    const file = join(dir, 'lab.json');
    mkdirSync(file);
    expect(() => labShares(file)).toThrow(new RegExp(`^lab file ${file} cannot be read: EISDIR`));
  });
});
