// Unit tests of the slice markers' pure logic: what a marker asks to recompute, how the marks of one
// batch merge, the list chunks that keep queries under ClickHouse's AST limit, and which version of
// a cell read with all its versions is current.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chunks, markValue, mergeMarks, newestRows, parseMarkValue, parseSliceKey, sliceKey, type Slice } from '@sitrep/aggregator/rollups';

const day: Slice = { measure: 'http://m', grain: 'day', periodStart: '2020-04-04 00:00:00' };
const week: Slice = { measure: 'http://m', grain: 'week', periodStart: '2020-03-30 00:00:00' };

describe('slice markers', () => {
  test('a slice key round-trips; anything else is refused', () => {
    assert.deepEqual(parseSliceKey(sliceKey(day)), day);
    assert.equal(parseSliceKey('http://m\u001fyear\u001f2020-01-01 00:00:00'), undefined);
    assert.equal(parseSliceKey('http://m\u001fday\u001f2020-01-01'), undefined);
  });

  test('marks of one slice unite their subjects and keep the newest offset', () => {
    const due = mergeMarks([
      { slice: day, subjects: ['a', 'b'], version: '7' },
      { slice: day, subjects: ['b', 'c'], version: '12' },
      { slice: day, subjects: [], version: '9' },
      { slice: week, subjects: ['a'], version: '3' },
    ]);
    assert.equal(due.size, 2);
    const d = due.get(sliceKey(day))!;
    assert.equal(d.version, '12');
    assert.deepEqual([...d.subjects!].sort(), ['a', 'b', 'c']);
    assert.deepEqual([...due.get(sliceKey(week))!.subjects!], ['a']);
  });

  test('offsets compare as numbers, not text', () => {
    assert.equal(mergeMarks([{ slice: day, subjects: [], version: '9' }, { slice: day, subjects: [], version: '10' }]).get(sliceKey(day))!.version, '10');
  });

  test('"every subject" absorbs any list, in either order', () => {
    for (const order of [[null, ['a']], [['a'], null]] as (string[] | null)[][]) {
      const due = mergeMarks(order.map((subjects, i) => ({ slice: day, subjects, version: String(i) })));
      assert.equal(due.get(sliceKey(day))!.subjects, null);
    }
  });

  test('marker values round-trip; an empty or foreign value means every subject', () => {
    assert.deepEqual(parseMarkValue(Buffer.from(markValue(new Set(['a', 'b'])))), ['a', 'b']);
    assert.deepEqual(parseMarkValue(Buffer.from(markValue(new Set()))), []);
    assert.equal(parseMarkValue(Buffer.from(markValue(null))), null);
    assert.equal(parseMarkValue(null), null);
    assert.equal(parseMarkValue(Buffer.from('not json')), null);
    assert.equal(parseMarkValue(Buffer.from('{"subjects":[1]}')), null);
  });
});

test('chunks split a list into pieces of at most the size, in order', () => {
  assert.deepEqual(chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  assert.deepEqual(chunks([], 2), []);
});

describe('newest versions', () => {
  test('each key keeps its highest version, compared as a number; a repeated version is one row', () => {
    const rows = [
      { k: 'a', version: '9', v: 1 },
      { k: 'a', version: '10', v: 2 },
      { k: 'b', version: '18446744073709551615', v: 3 },
      { k: 'a', version: '8', v: 4 },
      { k: 'b', version: '9223372036854775808', v: 5 },
      { k: 'c', version: '0', v: 6 },
      { k: 'c', version: '0', v: 6 },
    ];
    const newest = newestRows(rows, (r) => r.k);
    assert.deepEqual([...newest.values()].map((r) => r.v), [2, 3, 6]);
    // Whatever order the parts are read in.
    assert.deepEqual([...newestRows([...rows].reverse(), (r) => r.k).values()].map((r) => r.v).sort(), [2, 3, 6]);
  });
});
