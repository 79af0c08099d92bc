/**
 * Server configuration (HCL) of one OpenBao node this host starts: a lab node, or the throwaway
 * restore server of `backup verify`. Raft storage, loopback listener, telemetry, audit.
 */
export interface NodeConfigInput {
  nodeId: string;
  dataDir: string;
  apiPort: number;
  clusterPort: number;
  /** API addresses of the other nodes, for retry_join. */
  peers: string[];
  /** The file audit device's log; none declared without it (a throwaway restore server). */
  auditFile?: string | undefined;
  /** host:port of a socket audit device pointed at `sealwatch audit listen`, if wanted. */
  auditSocket?: string | undefined;
  tls?: { certFile: string; keyFile: string } | undefined;
  /**
   * Serve the unauthenticated sys/generate-root/* on the listener (off by default since OpenBao
   * 2.5.3): how `backup verify` gets a token on a cluster restored from a snapshot.
   */
  unauthenticatedGenerateRoot?: boolean;
}

const q = (value: string) => JSON.stringify(value);

export function renderNodeConfig(input: NodeConfigInput): string {
  const scheme = input.tls ? 'https' : 'http';
  const listenerTls = input.tls
    ? `  tls_cert_file = ${q(input.tls.certFile)}\n  tls_key_file = ${q(input.tls.keyFile)}\n`
    : '  tls_disable = true\n';
  const joins = input.peers.map((peer) => `  retry_join {\n    leader_api_addr = ${q(peer)}\n  }\n`).join('');
  const socket = input.auditSocket
    ? `
audit "socket" "sealwatch" {
  description = "stream to sealwatch audit listen"
  options {
    address = ${q(input.auditSocket)}
    socket_type = "tcp"
    hmac_accessor = "false"
  }
}
`
    : '';
  const generateRoot = input.unauthenticatedGenerateRoot
    ? '  disable_unauthed_generate_root_endpoints = false\n'
    : '';
  const audit = input.auditFile
    ? `
# OpenBao 2.4+ creates audit devices from the configuration, not through the API.
# Accessors are logged in clear so responders can revoke by accessor.
audit "file" "file" {
  description = "lab audit log"
  options {
    file_path = ${q(input.auditFile)}
    hmac_accessor = "false"
  }
}
`
    : '';
  return `# sealwatch lab node ${input.nodeId} — LAB ONLY, not a production configuration
storage "raft" {
  path = ${q(input.dataDir)}
  node_id = ${q(input.nodeId)}
  performance_multiplier = 1
${joins}}

listener "tcp" {
  address = "127.0.0.1:${input.apiPort}"
  cluster_address = "127.0.0.1:${input.clusterPort}"
${listenerTls}${generateRoot}  telemetry {
    unauthenticated_metrics_access = true
  }
}

api_addr = "${scheme}://127.0.0.1:${input.apiPort}"
cluster_addr = "https://127.0.0.1:${input.clusterPort}"
disable_mlock = true
ui = false
log_level = "info"

telemetry {
  prometheus_retention_time = "24h"
  disable_hostname = true
}
${audit}${socket}`;
}
