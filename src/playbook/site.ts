/**
 * What sealwatch can reach on this host beside the Vault API, when the deployment lets it. A lab
 * (`sealwatch lab up`) keeps everything here: its key shares, its nodes' processes and files, its
 * audit log. A real deployment usually offers none of it; the CLI's composition root then passes
 * no site, and each step that would use one takes a flag or asks the operator instead.
 */
export interface Site {
  keyHolders?: KeyHolders;
  nodeHosts?: NodeHostControl;
  auditLogs?: AuditLogLocations;
  applications?: ApplicationCredentials;
}

/** New unseal key material to record after a rekey: shares (with their count and threshold), a root token, or both. */
export interface NewUnsealKeys {
  shares?: { values: readonly string[]; keyShares: number; keyThreshold: number };
  rootToken?: string;
}

/**
 * Key holders whose shares this host keeps (a lab's lab.json, never a real deployment's holders):
 * where the current shares come from when the operator gives none, and where new ones go.
 */
export interface KeyHolders {
  /** The current unseal key shares, or undefined when the holders keep none. */
  currentShares(): readonly string[] | undefined;
  /** Records the new unseal shares and root token a rekey made (written before the step goes on). */
  recordNewKeys(keys: NewUnsealKeys): void;
}

/** A server node whose process and files are on this host. */
export interface HostedNode {
  readonly nodeId: string;
  /** The node's API address, as the configuration names it. */
  readonly address: string;
  /** The raft cluster address (`https://host:port`). */
  readonly clusterAddress: string;
  /** The server process now (a node restarted since has a new one). */
  readonly pid: number;
  readonly dataDir: string;
  readonly configFile: string;
  readonly logFile: string;
}

/** Control over the server processes of the nodes on this host. */
export interface NodeHostControl {
  /** The nodes, as they are now. */
  nodes(): readonly HostedNode[];
  /** Stops the node's process if it runs (SIGTERM, then SIGKILL after `graceMs`). */
  stop(nodeId: string, graceMs: number): Promise<void>;
  /** Starts the node's process on its data and configuration and waits until it answers. */
  start(nodeId: string): Promise<void>;
}

/** The audit logs the deployment's file audit devices write on this host. */
export interface AuditLogLocations {
  auditLogs(): readonly string[];
}

/** Where application credentials issued during recovery (new AppRole secret IDs) are kept on this host. */
export interface ApplicationCredentials {
  record(credentials: readonly { mount: string; role: string; role_id: string; secret_id: string }[]): void;
}
