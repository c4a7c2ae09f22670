import dns from 'node:dns';
import net from 'node:net';

/**
 * Where the platform may not connect (webhooks, MCP servers): loopback, private, CGNAT,
 * link-local (cloud metadata), unique-local, multicast, documentation and other special-purpose
 * ranges, and the IPv4 ranges again when they are embedded in an IPv6 address (mapped, NAT64, 6to4).
 */
const BLOCKED_V4: [string, number][] = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
];
const BLOCKED_V6: [string, number][] = [
  ['::', 128], ['::1', 128], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 23], ['2001:db8::', 32],
  ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
];

const blocked = new net.BlockList();
for (const [a, p] of BLOCKED_V4) blocked.addSubnet(a, p, 'ipv4');
for (const [a, p] of BLOCKED_V6) blocked.addSubnet(a, p, 'ipv6');

/** The 16 bytes of an IPv6 address (with or without an embedded dotted quad), or undefined. */
function ipv6Bytes(address: string): number[] | undefined {
  let text = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const v4 = (quad[1] as string).split('.').map(Number);
    text = text.slice(0, -(quad[1] as string).length) + `${((v4[0] as number) << 8 | (v4[1] as number)).toString(16)}:${((v4[2] as number) << 8 | (v4[3] as number)).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? (halves[0] as string).split(':') : [];
  const tail = halves.length === 2 && halves[1] ? (halves[1] as string).split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const groups = [...head, ...Array<string>(missing).fill('0'), ...tail].map((g) => parseInt(g, 16));
  if (groups.some((g) => Number.isNaN(g) || g < 0 || g > 0xffff)) return undefined;
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

/** The IPv4 address an IPv6 one carries (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4), if any. */
function embeddedIpv4(address: string): string | undefined {
  const b = ipv6Bytes(address);
  if (!b) return undefined;
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const quad = (at: number) => b.slice(at, at + 4).join('.');
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return quad(12); // ::ffff:a.b.c.d
  if (zero(0, 12)) return quad(12); // ::a.b.c.d (deprecated IPv4-compatible)
  if (zero(0, 8) && b[8] === 0xff && b[9] === 0xff && zero(10, 12)) return quad(12); // ::ffff:0:a.b.c.d (IPv4-translated, SIIT)
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return quad(12); // NAT64
  if (b[0] === 0x20 && b[1] === 0x02) return quad(2); // 6to4
  return undefined;
}

/** Whether the platform must refuse to connect to this IP address. Anything that is not an IP is refused too. */
export function isBlockedAddress(address: string): boolean {
  const ip = address.replace(/^\[|\]$/g, '');
  const family = net.isIP(ip);
  if (family === 4) return blocked.check(ip, 'ipv4');
  if (family === 6) {
    if (blocked.check(ip, 'ipv6')) return true;
    const v4 = embeddedIpv4(ip);
    return v4 !== undefined && blocked.check(v4, 'ipv4');
  }
  return true;
}

export interface ResolvedAddress {
  address: string;
  family: number;
}
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

/**
 * A refused target. The message is shown to the tenant, so it never names the address a host
 * resolved to (that would map the platform's private network: "postgres resolves to
 * 172.18.0.3"); `address` keeps it for the platform's own logs.
 */
export class BlockedAddress extends Error {
  override name = 'BlockedAddress';
  constructor(
    message: string,
    readonly address?: string,
  ) {
    super(message);
  }
}

/**
 * The addresses a connection to `hostname` may use: every address it resolves to must be allowed
 * (a name with one private answer among public ones is refused), unless private addresses are
 * allowed (local development). Throws BlockedAddress, or the resolver's error.
 */
export async function allowedAddresses(hostname: string, options: { allowPrivate: boolean; resolve?: Resolver }): Promise<ResolvedAddress[]> {
  const host = hostname.replace(/^\[|\]$/g, '');
  const literal = net.isIP(host);
  const addresses = literal ? [{ address: host, family: literal }] : await (options.resolve ?? systemResolver)(host);
  if (addresses.length === 0) throw new BlockedAddress(`${host} does not resolve`);
  if (!options.allowPrivate) {
    const bad = addresses.find((a) => isBlockedAddress(a.address));
    if (bad) {
      throw new BlockedAddress(
        literal ? `${host} is a loopback, private, link-local or reserved address` : `${host} resolves to a loopback, private, link-local or reserved address`,
        bad.address,
      );
    }
  }
  return addresses;
}
