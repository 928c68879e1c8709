// The task of the transfer benchmark: one pass over the data, as a statistic would.
export default function summarize(data) {
  let total = 0;
  if (ArrayBuffer.isView(data)) {
    for (let i = 0; i < data.length; i++) total += data[i];
    return { n: data.length, total };
  }
  for (let i = 0; i < data.length; i++) total += data[i].score;
  return { n: data.length, total };
}
