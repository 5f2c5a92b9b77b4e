/**
 * `ip-filter`: allow and deny lists of CIDR ranges (IPv4 and IPv6), on the client address the
 * platform reports (CF-Connecting-IP, which a client cannot set on Cloudflare). Deny wins over allow;
 * with an allow list, an address outside it is refused; a request without an address (never on
 * Cloudflare, possible in a local run) is refused when there is an allow list, and passes a deny
 * list, which it cannot be found in. A refusal is a 403 `address-forbidden` problem that says
 * nothing of the lists. Acts early, before authentication: a refused address is never asked for,
 * nor checks, a credential.
 */
import * as v from "valibot";
import { problemResponse } from "../../errors.ts";
import { type CidrRange, cidrProblem, inRanges, parseAddress, parseCidr, rangeCovers, rangeSet, rangeText } from "../cidr.ts";
import { checkedString, described } from "../config/fields.ts";
import { builtinPolicy, type InboundOutcome, type PolicyRequest } from "./types.ts";

/** Most ranges per list: matching is linear in them, and a longer list belongs in a WAF rule. */
const MAX_RANGES = 1_000;

const rangeList = v.pipe(
  v.array(checkedString(cidrProblem), "must be an array of CIDR ranges or addresses"),
  v.minLength(1, "must name at least one range; leave it out for none"),
  v.maxLength(MAX_RANGES, `must have at most ${MAX_RANGES} ranges`),
);

function parsed(list: readonly string[] | undefined): CidrRange[] {
  return (list ?? []).map((text) => {
    const result = parseCidr(text);
    if (!result.ok) throw new Error(`ip-filter range '${text}' passed validation but does not parse: ${result.problem}`);
    return result.range;
  });
}

type Lists = { allow?: string[] | undefined; deny?: string[] | undefined };

const options = v.pipe(
  v.strictObject({
    allow: v.optional(
      described(
        rangeList,
        "Client addresses admitted: CIDR ranges ('10.0.0.0/8', '2001:db8::/32') or single addresses. Set, every other address is refused, and so is a request without one. Unset: every address not denied.",
      ),
    ),
    deny: v.optional(
      described(
        rangeList,
        "Client addresses refused, whatever allow says. An IPv4-mapped IPv6 address (::ffff:10.1.2.3) is its IPv4 address, in either list and from the client. Unset: none.",
      ),
    ),
  }),
  v.rawCheck<Lists>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const lists = dataset.value;
    if (lists.allow === undefined && lists.deny === undefined) {
      addIssue({ message: "must set allow, deny or both" });
      return;
    }
    if (lists.allow === undefined || lists.deny === undefined) return;
    // Deny wins: an allow entry inside a denied range admits nobody, though it reads as an exception.
    const deny = parsed(lists.deny);
    const allow = lists.allow;
    parsed(allow).forEach((range, index) => {
      const denied = deny.findIndex((other) => rangeCovers(other, range));
      if (denied === -1) return;
      addIssue({
        message: `is inside deny[${denied}] (${rangeText(deny[denied] as CidrRange)}), and deny wins: it admits no address`,
        path: [
          { type: "object", origin: "value", input: lists, key: "allow", value: allow },
          { type: "array", origin: "value", input: allow, key: index, value: allow[index] },
        ],
      });
    });
  }),
);

export const ipFilter = builtinPolicy({
  use: "ip-filter",
  description:
    "Admits or refuses clients by their address (CF-Connecting-IP) against allow and deny lists of CIDR ranges; 403 address-forbidden.",
  options,
  directions: () => ({ inbound: "early", outbound: false }),
  bindings: () => [],
  compile(_name, config) {
    const allow = config.allow === undefined ? null : rangeSet(parsed(config.allow));
    const deny = rangeSet(parsed(config.deny));
    const refuse = (decision: string, requestId: string): InboundOutcome => ({
      kind: "respond",
      decision,
      response: problemResponse("address-forbidden", requestId),
    });
    return {
      inbound: function ipFilter({ clientIp, requestId }: PolicyRequest): InboundOutcome {
        const address = clientIp === null ? undefined : parseAddress(clientIp);
        // No address (or one the platform would never send): it is in no list.
        if (address === undefined) return allow !== null ? refuse("no-address", requestId) : { kind: "continue", decision: "no-address" };
        if (inRanges(deny, address)) return refuse("denied", requestId);
        if (allow !== null && !inRanges(allow, address)) return refuse("not-allowed", requestId);
        return { kind: "continue", decision: "allowed" };
      },
      outbound: null,
    };
  },
});
