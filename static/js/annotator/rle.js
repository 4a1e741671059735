// Moved to ../common/rle.js; this re-export only keeps the old URL working for
// tests/e2e/test_rle.py, which imports /static/js/annotator/rle.js. No page imports it.
export * from "../common/rle.js";
