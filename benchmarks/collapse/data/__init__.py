"""The data a collapse run reads: human text cut into documents and split so that no article straddles training,
trusted and test sets (``human``), synthetic text written by other models (``foreign``), the rows of a crawl with
the hidden labels only the loop sees (``rows``), and the word tokenisation every text learner and metric shares
(``text``)."""
