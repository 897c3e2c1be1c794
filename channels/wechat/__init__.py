"""WeChat's official publishing paths: 公众号 articles (``wechat_mp``) and 企业微信 app
messages (``wecom_app``), beside the group robots of ``channels.webhook``."""
