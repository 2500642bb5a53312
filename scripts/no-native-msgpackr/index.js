// No native extractor: msgpackr uses its JavaScript decoder.
module.exports = null;
