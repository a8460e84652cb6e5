/**
 * The trial page's and overview's stylesheet: readable on a ward computer, a phone held in one hand
 * (no sideways scrolling except inside wide tables) and on one printed A4 page.
 */
export const APP_STYLE = `*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0 auto;padding:.75rem;max-width:70rem;color:#111;background:#fff;line-height:1.4}
h1{font-size:1.3rem;margin:.5rem 0}h2{font-size:1.1rem;margin:1.25rem 0 .25rem}
.banner{display:flex;flex-wrap:wrap;gap:.25rem 1.5rem;align-items:baseline;border:2px solid #003f88;border-radius:.25rem;padding:.5rem .75rem;background:#eef4fb}
.banner .name{font-size:1.25rem;font-weight:700}.banner .study{margin-left:auto;font-weight:600}
.arm{font-weight:600}
.alert{background:#fde2e1;border:2px solid #9b1c1c;padding:.5rem;font-weight:600;margin:.5rem 0}
.notice{background:#fff4d6;border:2px solid #8a6100;padding:.5rem;margin:.5rem 0}
.message{font-size:1.2rem;border:2px solid #555;padding:1rem;margin:2rem 0;background:#f5f5f5}
.empty{color:#444;font-style:italic}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr));gap:0 1.5rem}
figure{margin:0}.chart{position:relative;height:14rem}figcaption{font-size:.85rem;color:#333}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:.5rem 0;font-size:.95rem}
th,td{border:1px solid #777;padding:.2rem .45rem;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}caption{text-align:left;font-weight:600}
button{font:inherit;background:none;border:0;padding:0;cursor:pointer;text-decoration:underline;color:inherit}
@media (max-width:40rem){body{padding:.4rem}.banner .study{margin-left:0}.grid{grid-template-columns:1fr}.chart{height:11rem}table{font-size:.85rem}}
@page{size:A4;margin:10mm}
@media print{body{max-width:none;padding:0;font-size:8.5pt;line-height:1.25}h1{font-size:12pt;margin:.2rem 0}h2{font-size:10pt;margin:.4rem 0 .1rem}
.grid{grid-template-columns:1fr 1fr;gap:0 .8rem}.chart{height:3.6cm}figcaption{display:none}table{font-size:7.5pt;margin:.15rem 0}
th,td{padding:.05rem .25rem}section{break-inside:avoid}.banner{padding:.2rem .4rem}.no-print{display:none}}`;
