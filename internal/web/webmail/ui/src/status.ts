// The banner's source: the server's own status (/api/status, the JSON the
// status page shows), asked every few seconds. It turns into the troubles
// that touch the user's mail, in the catalog's plain words.
import { computed, signal } from "@preact/signals";
import { recover, unavailable } from "./state";

interface Component {
  name: string;
  up: boolean;
}

interface Queue {
  depth: number;
  oldestAgeSeconds: number;
  paused: boolean;
}

interface ServerStatus {
  ready: boolean;
  degraded: boolean;
  components: Component[] | null;
  queues: Record<string, Queue> | null;
}

export type Trouble = "storeDown" | "intakeDown" | "inboundDelayed" | "outboundPaused" | "serverGone";

const status = signal<ServerStatus | null>(null);
const unreachable = signal(false);

export const troubles = computed<Trouble[]>(() => {
  if (unreachable.value) return ["serverGone"];
  const s = status.value;
  const out: Trouble[] = [];
  const down = (s?.components ?? []).filter((c) => !c.up).map((c) => c.name);
  // The single store, or the user's own calls failing: another cell's
  // outage ("cell NAME store") does not touch this user's mail.
  if (down.includes("store") || down.includes("blobs") || unavailable.value) out.push("storeDown");
  if (s && !s.ready) out.push("intakeDown");
  const inbound = s?.queues?.["inbound"];
  if (inbound?.paused) out.push("inboundDelayed");
  const outbound = s?.queues?.["outbound"];
  if (outbound && (outbound.paused || (outbound.depth > 0 && outbound.oldestAgeSeconds > 3600))) out.push("outboundPaused");
  return out;
});

export const storeDown = computed(() => troubles.value.includes("storeDown"));

const every = 3000;

// watchStatus polls until the page closes; when a trouble ends, the app
// loads again what it could not.
export function watchStatus(): void {
  let wasDown = false;
  const poll = async () => {
    try {
      const res = await fetch("/api/status", { credentials: "omit", cache: "no-store" });
      status.value = (await res.json()) as ServerStatus;
      unreachable.value = false;
    } catch {
      unreachable.value = true;
    }
    const down = troubles.value.length > 0;
    if (unavailable.value || (wasDown && !down)) await recover();
    wasDown = down;
    setTimeout(() => void poll(), every);
  };
  void poll();
}
