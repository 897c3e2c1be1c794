"""Reports the rules ask for: the 信息公开工作年度报告 (``annual``) and the 保密审查 register
(``register``), written as files the office can file, print and publish."""
