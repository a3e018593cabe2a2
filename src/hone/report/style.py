"""The report's stylesheet: system fonts, one readable column, zebra tables."""

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 color:#111827;background:#f3f4f6;margin:0;line-height:1.5}
main{max-width:1100px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:1.6rem;margin:0 0 4px}.meta{color:#4b5563;font-size:.92rem}.meta span{margin-right:1em}
h2{font-size:1.2rem;margin:32px 0 10px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
.verdict{border-left:6px solid;border-radius:6px;padding:14px 18px;margin:20px 0;font-size:1.15rem}
p.warning{background:#fffbeb;padding:6px 10px;border-radius:4px}
.verdict.good{background:#ecfdf5;border-color:#059669}.verdict.warn{background:#fffbeb;border-color:#d97706}
.detail{font-size:.9rem;color:#374151;margin-top:6px}.note{color:#4b5563;font-size:.88rem}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:8px 0}th{background:#f3f4f6}
th,td{padding:6px 10px;text-align:left;vertical-align:top;border-bottom:1px solid #e5e7eb}
tbody tr:nth-child(even){background:#f9fafb}tr.tuned{background:#eff6ff!important;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.tag{font-size:.75rem;background:#e5e7eb;border-radius:4px;padding:1px 6px;margin-left:6px}
.missing{background:#f3f4f6;border-radius:6px;padding:10px 14px;color:#374151}
code{background:#f3f4f6;padding:1px 5px;border-radius:4px;font-size:.88em}
img{max-width:100%;height:auto;display:block;margin:8px 0}
.text{max-width:32em;overflow-wrap:anywhere}
"""
