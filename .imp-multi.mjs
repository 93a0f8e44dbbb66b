const t0 = performance.now();
for (const spec of process.argv.slice(2)) { const t = performance.now(); await import(spec); console.log(`${spec}\t+${(performance.now() - t).toFixed(0)} ms`); }
console.log(`total\t${(performance.now() - t0).toFixed(0)} ms`);
