"""Where trials run: the run interface of a study (``interface``: claim, tell, fail), one
trial's ask -> run -> tell (``loop``), ``Study.optimize`` in this thread or a thread pool
(``optimize``), as tasks of a cluster (``tasks``: on Ray, ``ray_backend``; on Spark,
``spark_backend``), and the ``pipetune worker`` loop
(``worker``); with the study-wide budget (``budget``) and crash recovery by heartbeat
(``heartbeat``). Nothing here imports ``pipetune.study``: the loops drive a study through its
run interface. Scripts launched as trials are ``pipetune.launch``."""
