      * Writes ODO-REC records to a variable-length sequential file
      * (RECORD VARYING: GnuCOBOL puts a record header before each
      * record, its layout chosen by COB_VARSEQ_FORMAT) and DISPLAYs
      * what it wrote ("odo WRITE"), or reads the file named by
      * DD_ODOFILE and DISPLAYs what it read ("odo READ").
       IDENTIFICATION DIVISION.
       PROGRAM-ID. ODO.
       ENVIRONMENT DIVISION.
       INPUT-OUTPUT SECTION.
       FILE-CONTROL.
           SELECT ODO-FILE ASSIGN TO "ODOFILE"
               ORGANIZATION IS SEQUENTIAL
               FILE STATUS IS WS-STATUS.
       DATA DIVISION.
       FILE SECTION.
       FD  ODO-FILE
           RECORD IS VARYING IN SIZE FROM 7 TO 52 CHARACTERS
               DEPENDING ON WS-LEN.
       COPY "odo.cpy".
       WORKING-STORAGE SECTION.
       01  WS-MODE             PIC X(5).
       01  WS-STATUS           PIC XX.
       01  WS-EOF              PIC X VALUE "N".
       01  WS-LEN              PIC 9(4) COMP.
       01  WS-I                PIC S9(4) COMP.
       01  WS-J                PIC S9(4) COMP.
       PROCEDURE DIVISION.
           ACCEPT WS-MODE FROM COMMAND-LINE
           IF WS-MODE = "WRITE"
               PERFORM WRITE-ALL
           ELSE
               PERFORM READ-ALL
           END-IF
           STOP RUN.

       WRITE-ALL.
           OPEN OUTPUT ODO-FILE
           PERFORM VARYING WS-I FROM 1 BY 1 UNTIL WS-I > 8
               MOVE WS-I TO O-ID
               MOVE FUNCTION MOD(WS-I, 6) TO O-COUNT
               IF O-COUNT = 0
                   MOVE "NO" TO O-KIND
               ELSE
                   MOVE "HS" TO O-KIND
               END-IF
               PERFORM VARYING WS-J FROM 1 BY 1 UNTIL WS-J > O-COUNT
                   MOVE FUNCTION CHAR(66 + WS-I + WS-J)
                       TO O-CODE (WS-J)
                   COMPUTE O-AMT (WS-J) = (WS-I * 1000 + WS-J) / 100
                       * (1 - 2 * FUNCTION MOD(WS-J, 2))
                   COMPUTE O-QTY (WS-J) = WS-I * WS-J
                       * (1 - 2 * FUNCTION MOD(WS-I, 2))
               END-PERFORM
               COMPUTE WS-LEN = 7 + O-COUNT * 9
               WRITE ODO-REC
               PERFORM SHOW-RECORD
           END-PERFORM
           CLOSE ODO-FILE.

       READ-ALL.
           OPEN INPUT ODO-FILE
           IF WS-STATUS NOT = "00"
               DISPLAY "OPEN FAILED " WS-STATUS
               STOP RUN
           END-IF
           PERFORM UNTIL WS-EOF = "Y"
               READ ODO-FILE
                   AT END MOVE "Y" TO WS-EOF
                   NOT AT END PERFORM SHOW-RECORD
               END-READ
           END-PERFORM
           CLOSE ODO-FILE.

       SHOW-RECORD.
           DISPLAY "RECORD"
           DISPLAY "LENGTH=" WS-LEN
           DISPLAY "O-ID=" O-ID
           DISPLAY "O-KIND=" O-KIND
           DISPLAY "O-COUNT=" O-COUNT
           PERFORM VARYING WS-J FROM 1 BY 1 UNTIL WS-J > O-COUNT
               DISPLAY "O-CODE(" WS-J ")=" O-CODE (WS-J)
               DISPLAY "O-AMT(" WS-J ")=" O-AMT (WS-J)
               DISPLAY "O-QTY(" WS-J ")=" O-QTY (WS-J)
           END-PERFORM.
