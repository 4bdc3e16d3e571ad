"""Trading performance figures from an equity curve and closed trades (Sharpe, Sortino, drawdown,
profit factor …, annualised per bars in a 365-day year) and their significance (PSR, DSR,
block-bootstrap intervals). Pure functions over numbers: no engine, no I/O."""
