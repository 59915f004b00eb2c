import { describe, expect, it } from 'vitest';
import { Backlog } from './backlog.js';
import { arraySource } from './fresh-queues.js';

const job = (seq: number, suspect = false) => ({ batch: 'b', seq, attempt: 1, payloadJson: 'null', ...(suspect ? { suspect } : {}) });

describe('Backlog', () => {
  it('counts every job out in one place: queued, being written ahead, in flight', () => {
    const suspects: ReturnType<typeof job>[] = [];
    const backlog = new Backlog({ maxInFlight: 5 }, suspects);
    backlog.addFresh(job(0));
    backlog.comeBack([job(1), job(2, true)]);
    backlog.admitting = 1;
    backlog.inFlight.add(job(3), 1, 'w');
    expect([backlog.fresh.length, backlog.redeliveries.length, suspects.length]).toEqual([1, 1, 1]);
    expect(backlog.out).toBe(5);
    expect(backlog.full).toBe(true);
    // The reaper's room leaves out fresh jobs and packs being written ahead.
    expect(backlog.reapRoom()).toBe(5 - 1 - 1 - 1);
    expect(backlog.waiting().map((j) => j.seq)).toEqual([1, 2]);
  });

  it('knows which batches have jobs not in the ledger yet: queued, or being written ahead', () => {
    const queued = new Backlog({ maxInFlight: 10 }, []);
    expect(queued.holdsUnwritten('b')).toBe(false);
    queued.addFresh(job(0));
    expect([queued.holdsUnwritten('b'), queued.holdsUnwritten('other')]).toEqual([true, false]);
    const backlog = new Backlog({ maxInFlight: 10 }, []);
    backlog.startAdmitting('b', 2, 8);
    backlog.startAdmitting('b', 1, 4);
    backlog.endAdmitting('b', 2, 8);
    expect([backlog.holdsUnwritten('b'), backlog.admitting, backlog.admittingBytes]).toEqual([true, 1, 4]);
    backlog.endAdmitting('b', 1, 4);
    expect([backlog.holdsUnwritten('b'), backlog.admitting, backlog.admittingBytes]).toEqual([false, 0, 0]);
  });

  it('wakes the split when the sink records jobs, and the dispatcher when suspects wait', async () => {
    const backlog = new Backlog({ maxInFlight: 10 }, [job(9, true)]);
    backlog.inFlight.add(job(0), 1, 'w');
    const room = backlog.room.wait();
    const changed = backlog.changed.wait();
    backlog.recorded('b', [0, 0, 7]);
    await Promise.all([room, changed]);
    expect(backlog.inFlight.size).toBe(0);
  });

  it('takes back what a vanished worker held, and forgets a drained one without taking its jobs', () => {
    const backlog = new Backlog({ maxInFlight: 10 }, []);
    for (let seq = 0; seq < 4; seq++) backlog.inFlight.add(job(seq), seq, seq % 2 ? 'odd' : 'even');
    expect(backlog.takeHeldBy('odd').map((e) => e.job.seq)).toEqual([1, 3]);
    expect(backlog.forgetHolder('even')).toBe(2);
    expect(backlog.inFlight.size).toBe(2); // still under their leases
    expect(backlog.out).toBe(2);
  });

  it('lets a batch queue its share while the backlog is full, so a small batch is not stuck behind a large one', () => {
    const backlog = new Backlog({ maxInFlight: 4, shareWhenFull: 2 }, []);
    for (let seq = 0; seq < 4; seq++) backlog.addFresh(job(seq));
    expect(backlog.full).toBe(true);
    expect(backlog.mayAdd('b')).toBe(false); // the large batch has its share and more
    expect(backlog.mayAdd('small')).toBe(true);
    backlog.addFresh({ ...job(0), batch: 'small' });
    backlog.addFresh({ ...job(1), batch: 'small' });
    expect(backlog.mayAdd('small')).toBe(false);
    expect(backlog.out).toBe(6); // maxInFlight plus one share
  });

  it("counts a batch's jobs in flight toward its share: sent ones do not make room for more", () => {
    const backlog = new Backlog({ maxInFlight: 4, shareWhenFull: 1 }, []);
    for (let seq = 0; seq < 4; seq++) backlog.inFlight.add(job(seq), 0, 'w');
    expect([backlog.full, backlog.fresh.queued('b')]).toEqual([true, 0]);
    // Its queue is dry, but it has four out: no share left (it had one whenever its queue ran dry).
    expect(backlog.mayAdd('b')).toBe(false);
    expect(backlog.mayAdd('other')).toBe(true);
    backlog.recorded('b', [0]);
    expect(backlog.mayAdd('b')).toBe(true);
  });

  it('drops what waits of a cancelled batch or of cancelled jobs, and says so for each of its jobs until the batch is done', () => {
    const suspects: ReturnType<typeof job>[] = [job(8, true)];
    const backlog = new Backlog({ maxInFlight: 100 }, suspects);
    for (let seq = 0; seq < 4; seq++) backlog.addFresh(job(seq));
    backlog.addFresh({ ...job(0), batch: 'other' });
    backlog.comeBack([job(5), { ...job(6), batch: 'other' }]);
    expect(backlog.cancel('b', [1, 5])).toBe(2);
    expect([backlog.fresh.jobsOf('b').map((j) => j.seq), backlog.redeliveries.map((j) => `${j.batch}:${j.seq}`)]).toEqual([[0, 2, 3], ['other:6']]);
    expect([backlog.isCancelled('b', 1), backlog.isCancelled('b', 0), backlog.mayAdd('b')]).toEqual([true, false, true]);
    // The whole batch: the rest goes, its split may add nothing more.
    expect(backlog.cancel('b')).toBe(4);
    expect([backlog.fresh.length, suspects.length, backlog.isCancelled('b', 0), backlog.mayAdd('b'), backlog.mayAdd('other')]).toEqual([
      1,
      0,
      true,
      false,
      true,
    ]);
    backlog.forgetCancels('b');
    expect([backlog.isCancelled('b', 1), backlog.mayAdd('b')]).toEqual([false, true]);
  });

  describe('in payload bytes', () => {
    const sized = (seq: number, bytes: number, extra: object = {}) => ({ batch: 'b', seq, attempt: 1, payloadJson: 'x'.repeat(bytes), ...extra });

    it('counts the payloads it holds wherever a job is, and is full at its byte bound whatever the job count', () => {
      const suspects: ReturnType<typeof sized>[] = [];
      const backlog = new Backlog({ maxInFlight: 1000, maxInFlightBytes: 10_000 }, suspects);
      backlog.addFresh(sized(0, 1000));
      backlog.comeBack([sized(1, 2000), sized(2, 500, { suspect: true })]);
      backlog.inFlight.add(sized(3, 3000), 1, 'w');
      expect(backlog.bytes).toBe(6500);
      expect(backlog.full).toBe(false);
      // A pack taken out of a queue is held while it is written ahead, then by the in-flight map.
      const [taken] = arraySource(backlog.redeliveries, backlog.cameBack).take(1);
      backlog.admittingBytes += 2000;
      expect(backlog.bytes).toBe(6500);
      backlog.admittingBytes -= 2000;
      backlog.inFlight.add(taken!, 2, 'w');
      expect(backlog.bytes).toBe(6500);
      backlog.addFresh(sized(4, 3500));
      expect([backlog.bytes, backlog.out, backlog.full]).toEqual([10_000, 5, true]);
      // Recorded: out of the map, and room again.
      backlog.recorded('b', [3]);
      expect([backlog.bytes, backlog.full]).toEqual([7000, false]);
      // Cancelled: what waits of it leaves the count.
      backlog.cancel('b', [0, 2]);
      expect(backlog.bytes).toBe(5500);
      expect(backlog.peakBytes).toBe(10_000);
    });

    it('keeps no payload in flight when a durable ledger holds them', () => {
      const backlog = new Backlog({ maxInFlight: 10, maxInFlightBytes: 1000, keepsPayloads: false }, []);
      backlog.inFlight.add(sized(0, 5000), 1, 'w');
      expect([backlog.inFlight.size, backlog.bytes, backlog.full]).toEqual([1, 0, false]);
      expect(backlog.takeHeldBy('w').map(({ job }) => [job.seq, job.payloadJson])).toEqual([[0, '']]);
    });

    it('lets one job larger than the bound in when nothing else is held, and no second one', () => {
      const backlog = new Backlog({ maxInFlight: 10, maxInFlightBytes: 1000 }, []);
      expect(backlog.mayAdd('b')).toBe(true);
      backlog.addFresh(sized(0, 5000));
      expect(backlog.mayAdd('b')).toBe(false);
    });

    it('gives a batch its share of the bytes while full, so a small batch of big jobs is not stuck behind a large one', () => {
      const backlog = new Backlog({ maxInFlight: 1000, maxInFlightBytes: 4000, shareBytesWhenFull: 2000 }, []);
      for (let seq = 0; seq < 4; seq++) backlog.addFresh(sized(seq, 1000));
      expect([backlog.full, backlog.mayAdd('b'), backlog.mayAdd('small')]).toEqual([true, false, true]);
      backlog.addFresh(sized(0, 1500, { batch: 'small' }));
      expect(backlog.mayAdd('small')).toBe(true);
      backlog.addFresh(sized(1, 1500, { batch: 'small' }));
      expect(backlog.mayAdd('small')).toBe(false);
    });

    it("counts a batch's payloads in flight toward its share, so a batch alone cannot pass the bound as its queue runs dry", () => {
      const backlog = new Backlog({ maxInFlight: 1000, maxInFlightBytes: 4000, shareBytesWhenFull: 2000 }, []);
      for (let seq = 0; seq < 4; seq++) backlog.inFlight.add(sized(seq, 1000), 1, 'w');
      expect([backlog.full, backlog.fresh.length, backlog.mayAdd('b'), backlog.mayAdd('other')]).toEqual([true, 0, false, true]);
    });

    it('lets the reaper take no more jobs than the bytes free hold, at the typical job size', () => {
      const backlog = new Backlog({ maxInFlight: 1000, maxInFlightBytes: 10_000 }, []);
      // Nothing seen yet: a few jobs, until their size is known.
      expect(backlog.reapRoom()).toBe(16);
      backlog.comeBack([sized(0, 1000), sized(1, 1000)]);
      expect(backlog.reapRoom()).toBe(8);
      backlog.inFlight.add(sized(2, 7000), 1, 'w');
      // 1,000 bytes free: one job of the typical size.
      expect(backlog.reapRoom()).toBe(1);
      backlog.inFlight.add(sized(3, 2000), 1, 'w');
      expect(backlog.reapRoom()).toBe(0);
    });
  });
});
